"""The REST API (FastAPI): ``create_app(ApiConfig(...))``; ``python -m fer_core.serve`` runs it under uvicorn."""
from .app import create_app
from .config import ApiConfig, ConfigError

__all__ = ["create_app", "ApiConfig", "ConfigError"]
