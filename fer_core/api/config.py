"""The REST API's settings: limits, timeout, API key and model, from ``FER_API_*`` environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from ..inference.preprocessing import MAX_PIXELS


class ConfigError(ValueError):
    """A setting that is not a valid value; the message names the variable."""


@dataclass(frozen=True)
class ApiConfig:
    """Limits and choices of one API server; every field has an ``FER_API_<NAME>`` variable (``ENV``)."""

    max_bytes: int = 20_000_000  # largest image file (bytes); a base64 JSON body may be 4/3 of it plus BODY_SLACK
    max_pixels: int = MAX_PIXELS  # largest image (width x height), checked in the header before any pixel is decoded
    timeout: float = 30.0  # seconds from the request's arrival to its answer (queueing included)
    api_key: str | None = None  # when set, /analyze and /models need it (X-API-Key or Authorization: Bearer)
    model: str | None = None  # default run (id under models/runs or a run folder); None: models/default.json
    threads: int = 0  # analyses running at once per worker process; 0: one per CPU core
    max_pending: int = 32  # requests admitted at once (running + queued); more get 503 at once

    def __post_init__(self) -> None:
        checks = {"max_bytes": self.max_bytes >= 1, "max_pixels": self.max_pixels >= 1, "timeout": self.timeout > 0,
                  "threads": self.threads >= 0, "max_pending": self.max_pending >= 1}
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{ENV[name]} must be {'>= 0' if name == 'threads' else 'positive'}. "
                                  f"Received: {name}={getattr(self, name)!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError(f"{ENV['api_key']} must not be blank when set. Received: {self.api_key!r}")

    @property
    def analysis_threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: a base64-encoded ``max_bytes`` image plus room for the other fields."""
        return self.max_bytes * 4 // 3 + BODY_SLACK

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "ApiConfig":
        """Settings from ``FER_API_*`` variables (unset or empty: the default); ``overrides`` that are not None win."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            text = environ.get(ENV[f.name], "").strip()
            if text:
                values[f.name] = _parse(f.name, text)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce this config (how ``serve`` hands CLI flags to uvicorn's worker processes)."""
        return {ENV[f.name]: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}


BODY_SLACK = 64 * 1024
ENV = {"max_bytes": "FER_API_MAX_BYTES", "max_pixels": "FER_API_MAX_PIXELS", "timeout": "FER_API_TIMEOUT",
       "api_key": "FER_API_KEY", "model": "FER_API_MODEL", "threads": "FER_API_THREADS",
       "max_pending": "FER_API_MAX_PENDING"}
_NUMBERS = {"max_bytes": int, "max_pixels": int, "threads": int, "max_pending": int, "timeout": float}


def _parse(name: str, text: str):
    kind = _NUMBERS.get(name)
    if kind is None:
        return text
    try:
        return kind(text)  # int() takes 20_000_000 too
    except ValueError:
        raise ConfigError(f"{ENV[name]} must be {'an integer' if kind is int else 'a number'}. Received: {text!r}") from None
