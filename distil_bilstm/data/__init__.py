"""Stage 1, data: datasets as one table with a stable ``idx``, student vocabularies, transfer sets.

``sources`` (named datasets, the data folder) → ``files`` (reading CSV/TSV and text files) →
``splits`` (train / valid / test) → ``datasets`` (``load_dataset``) → ``vocab`` (students' WordPiece vocabularies) →
``augment`` / ``transfer`` (more text for the teacher to label). ``sample_data/`` is the built-in
NSMC sample.
"""
