"""``python -m fer_core.analyze``: emotions of every face in image files (``fer_core.inference.analyze_cli``)."""
import sys
import types

from .inference.analyze_cli import main


class _CallableModule(types.ModuleType):
    """Importing this module rebinds ``fer_core.analyze`` (the function) to it; calling it still analyses an image."""

    def __call__(self, *args, **kwargs):
        from .inference.analysis import analyze

        return analyze(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

if __name__ == "__main__":
    sys.exit(main())
