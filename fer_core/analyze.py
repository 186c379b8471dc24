"""``python -m fer_core.analyze``: emotions of every face in image files (``fer_core.inference.analyze_cli``)."""
import sys

from .inference.analyze_cli import main

if __name__ == "__main__":
    sys.exit(main())
