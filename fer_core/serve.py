"""``python -m fer_core.serve``: the REST API under uvicorn (``fer_core.api.serve``)."""
import sys

from .api.serve import main

if __name__ == "__main__":
    sys.exit(main())
