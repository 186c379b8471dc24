"""Every API error is JSON ``{"error": <stable code>, "detail": <what was expected and what came>}``."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("fer_core.api")


class ErrorBody(BaseModel):
    """The body of every non-2xx answer."""

    error: str
    detail: str


class ApiError(Exception):
    """An answer other than 200: HTTP ``status``, a short stable ``error`` code and a ``detail`` sentence."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def error_response(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def validation_detail(errors) -> str:
    """Pydantic / FastAPI validation errors as one line: ``field: message (received: value)``."""
    parts = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
        received = f" (received: {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else ""
        parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}{received}")
    return "; ".join(parts)


def invalid_fields(error: ValidationError) -> ApiError:
    return ApiError(422, "invalid_request", validation_detail(error.errors()))


_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "payload_too_large"}


def install_handlers(app: FastAPI) -> None:
    """JSON errors for our ``ApiError``, FastAPI's validation errors (422), Starlette's HTTP errors (404, 405 ...)
    and anything unexpected (500, logged with its traceback, never sent to the client)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", validation_detail(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, _CODES.get(exc.status_code, f"http_{exc.status_code}"), str(exc.detail),
                              getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"The server failed on this request ({type(exc).__name__}); "
                                                     "its log has the details.")
