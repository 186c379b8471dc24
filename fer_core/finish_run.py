"""``python -m fer_core.finish_run``: ONNX export and evaluation of a run trained off TensorFlow (``fer_core.training.finish_cli``)."""
import sys

from .training.finish_cli import main

if __name__ == "__main__":
    sys.exit(main())
