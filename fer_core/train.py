"""``python -m fer_core.train``: train a model into a run folder (``fer_core.training.train_cli``)."""
import sys

from .training.train_cli import main

if __name__ == "__main__":
    sys.exit(main())
