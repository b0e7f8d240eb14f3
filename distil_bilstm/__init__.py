"""distil-bilstm: distill a fine-tuned transformer classifier into small BiLSTM students."""

__version__ = "0.1.0"
