"""``python -m fer_core.evaluate``: evaluate a stored model on a dataset (``fer_core.training.evaluate_cli``)."""
import sys

from .training.evaluate_cli import main

if __name__ == "__main__":
    sys.exit(main())
