"""Inference: face detection (``detection``: ``haar``, ``yunet``, ``boxes``), face crops (``preprocessing``),
the classifier of a trained run (``classifier``, on TensorFlow or ``onnx_backend``), the custom layers saved models
hold (``layers``), whole-image analysis (``analysis``) and drawing (``annotate``).
"""
