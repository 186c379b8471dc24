"""``python -m fer_core.prune``: cut a trained net to a narrower architecture (``fer_core.training.prune_cli``)."""
import sys

from .training.prune_cli import main

if __name__ == "__main__":
    sys.exit(main())
