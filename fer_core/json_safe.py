"""JSON that any reader can parse: NaN and infinities become ``null``, numpy scalars plain numbers."""
from __future__ import annotations

import json
import math

import numpy as np


def json_safe(o):
    """``o`` with every NaN or infinite float (Python or numpy) replaced by None, numpy scalars made Python numbers and
    tuples made lists, through dicts and lists; anything else as it is."""
    if isinstance(o, dict):
        return {k: json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return None if math.isnan(o) or math.isinf(o) else float(o)
    if isinstance(o, np.integer):
        return int(o)
    return o


def dumps(doc) -> str:
    """``doc`` as JSON text (indent 1), missing values as ``null``: strict JSON, never ``NaN``."""
    return json.dumps(json_safe(doc), indent=1, allow_nan=False)
