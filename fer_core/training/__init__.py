"""Training: datasets (``data``, ``clip_data``, ``ferplus``, ``soft_targets``), augmentation, the architecture
registry (``architectures``), the training loop (``trainer``, ``weight_averaging``, ``clip_training``), evaluation,
ensembles and ONNX export; the ``*_cli`` modules are the command lines (``python -m fer_core.train`` and others).
"""
