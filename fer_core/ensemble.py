"""``python -m fer_core.ensemble``: write (and evaluate) an ensemble run folder (``fer_core.training.ensemble``)."""
import sys

from .training.ensemble import main

if __name__ == "__main__":
    sys.exit(main())
