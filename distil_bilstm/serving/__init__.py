"""Stage 6, serving: a trained student used — ``inference`` (load, classify), ``batch_predict``,
``evaluation``, ``export`` (ONNX, TorchScript) and ``http`` (FastAPI)."""
