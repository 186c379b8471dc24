"""``python -m fer_core.export_onnx``: export a run's model.onnx (and model.int8.onnx) (``fer_core.training.export_cli``)."""
import sys

from .training.export_cli import main

if __name__ == "__main__":
    sys.exit(main())
