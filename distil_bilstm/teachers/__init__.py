"""Stage 2, teachers: pretrained bases, fine-tuning, and the logits a teacher computes once.

``e5_image`` / ``bases`` / ``unigram_prune`` (the pretrained bases) → ``vocab_transfer`` and
``mlm`` (adapting a base to the task's language and domain) → ``finetune`` → ``teacher`` (load and
run one) → ``onnx_runtime`` / ``ray_logits`` (labelling faster) → ``labelling`` and ``store`` (the
logit store) → ``ensemble`` (one store from several) → ``source`` (what a run's ``teacher_path``
names).
"""
