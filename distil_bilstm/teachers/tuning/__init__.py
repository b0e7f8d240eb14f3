"""Making a teacher: fine-tuning a base into a classifier or a bi-encoder (``finetune``) and averaging
the weights of several fine-tunings (``soup``). Builds on ``bases``, ``stores`` and ``running``."""
