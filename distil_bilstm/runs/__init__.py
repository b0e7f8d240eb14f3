"""Stage 5, runs: one distillation run end to end, grids of them, and the table that compares them.

``config`` (``DistilConfig``) → ``rundir`` (the one place that knows a run folder's files) →
``pipeline`` (data → teacher logits → student → Trainer) → ``grid`` → ``compare``;
``quickstart`` is the whole pipeline on the built-in sample.
"""
