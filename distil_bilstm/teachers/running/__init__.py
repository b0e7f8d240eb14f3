"""Running a teacher and labelling with it: what a path names, decided once (``reference``), where its
stores live (``source``), loading and running a classifier (``teacher``) or a pair bi-encoder
(``biencoder``), its sentence states (``states``), ONNX (int8) and Ray labelling (``onnx_runtime``,
``ray_logits``) and a dataset labelled into a store (``labelling``). Builds on ``stores``."""
