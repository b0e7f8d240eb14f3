"""The students' special tokens, kept apart from ``vocab`` so that inference code can name them
without importing ``transformers``."""

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # [PAD] = 0 is the students' padding_idx
