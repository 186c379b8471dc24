"""``python -m fer_core.train_clips``: train a clip model with subject-wise cross-validation (``fer_core.training.train_clips_cli``)."""
import sys

from .training.train_clips_cli import main

if __name__ == "__main__":
    sys.exit(main())
