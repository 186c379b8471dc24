"""Command line: serve the emotion model over HTTP (FastAPI under uvicorn).

    python -m fer_core.serve [--host 127.0.0.1] [--port 8000] [--workers 1] [--model RUN] [--max-bytes N]
                             [--max-pixels N] [--timeout S] [--threads N] [--max-pending N] [--api-key KEY]

Endpoints: ``POST /analyze``, ``GET /health``, ``GET /models``, OpenAPI docs at ``/docs``. Every limit also comes
from its ``FER_API_*`` environment variable (``fer_core.api.config``); a flag wins over the variable. Only this
machine can connect unless ``--host`` says otherwise; then set an API key.
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import fields

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .config import ENV, ApiConfig, ConfigError  # noqa: E402

APP_FACTORY = "fer_core.api.app:create_app"


def build_parser() -> argparse.ArgumentParser:
    d = ApiConfig()
    p = argparse.ArgumentParser(prog="python -m fer_core.serve", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes; each loads the model once")
    p.add_argument("--model", help=f"default run id under models/runs, or a run folder ({ENV['model']}; "
                                   "default: models/default.json)")
    p.add_argument("--max-bytes", type=int, help=f"largest image file in bytes ({ENV['max_bytes']}, default {d.max_bytes:,})")
    p.add_argument("--max-pixels", type=int, help=f"largest image in pixels, checked before decoding "
                                                  f"({ENV['max_pixels']}, default {d.max_pixels:,})")
    p.add_argument("--timeout", type=float, help=f"seconds per request, queueing included ({ENV['timeout']}, "
                                                 f"default {d.timeout:g})")
    p.add_argument("--threads", type=int, help=f"analyses at once per worker ({ENV['threads']}, default: one per core)")
    p.add_argument("--max-pending", type=int, help=f"requests admitted at once per worker, more get 503 "
                                                   f"({ENV['max_pending']}, default {d.max_pending})")
    p.add_argument("--api-key", help=f"require this key (X-API-Key or Authorization: Bearer); prefer {ENV['api_key']}, "
                                     "which other users of the machine cannot read in the process list")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def config_from_args(args: argparse.Namespace, environ=None) -> ApiConfig:
    """The environment's ``FER_API_*`` settings with the flags given on top."""
    return ApiConfig.from_env(environ, **{f.name: getattr(args, f.name) for f in fields(ApiConfig)})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and config.api_key is None:
        print(f"warning: listening on {args.host} without an API key: anyone who can reach this port can use the "
              f"model. Set {ENV['api_key']} to require one.", file=sys.stderr)
    os.environ.update(config.to_env())  # uvicorn's worker processes build the app from these (create_app reads them)
    import uvicorn

    uvicorn.run(APP_FACTORY, factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
