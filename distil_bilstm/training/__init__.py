"""Stage 4, training: the Trainer and what it is made of; it knows nothing of the model.

``config`` (how it optimises) → ``batching`` / ``masks`` (length-aware batches) → ``losses``
(distillation losses) → ``optim`` (AdamW groups, schedules) → ``trainer`` (the loop) with
``checkpoint`` and ``callbacks`` → ``metrics``.
"""
