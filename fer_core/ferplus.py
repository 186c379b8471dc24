"""``python -m fer_core.ferplus``: check or rebuild the FER+ vote alignment (``fer_core.training.ferplus``)."""
import sys

from .training.ferplus import main

if __name__ == "__main__":
    sys.exit(main())
