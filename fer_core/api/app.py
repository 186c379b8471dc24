"""The FastAPI app: ``POST /analyze`` (DeepFace-shaped emotions of every face), ``GET /health``, ``GET /models``.

Each request's work (parsing the body, decoding the image, detecting and classifying) runs on a small thread pool
(``ApiConfig.threads``) so the event loop stays free; at most ``max_pending`` requests are admitted at once (more get
503 at once, before their body is read), and a request that has not been answered ``timeout`` seconds after it
arrived gets 503 if its analysis never started (it waited behind others) or 504 if it did (the analysis then finishes
in the background and its result is dropped: Python threads cannot be interrupted).
"""
from __future__ import annotations

import asyncio
import hmac
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Optional

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..inference.analysis import analyze
from ..inference.classifier import ModelLoadError
from ..inference.detection import DEFAULT_DETECTOR, list_detectors
from ..inference.haar import FaceDetector
from ..inference.preprocessing import ImageDecodeError, ImageTooLargeError, decode_image
from .body import IMAGE_FIELD, parse_body
from .config import ENV, ApiConfig
from .errors import ApiError, ErrorBody, install_handlers, invalid_fields
from .model_pool import ModelPool, UnknownModelError

DETECTOR_ALIASES = {"opencv": "haar"}  # DeepFace's detector_backend names for ours (its "opencv" is a Haar cascade)
MIN_MIN_SIZE, MAX_MIN_SIZE = 8, 8192  # both detectors refuse min_size below 8 px


# ---------------------------------------------------------------- request and response shapes

class AnalyzeOptions(BaseModel):
    """Options of ``POST /analyze``, as query parameters or as fields of the JSON / multipart body."""

    model_config = ConfigDict(extra="forbid")

    detector: Optional[str] = Field(None, description=f"face detector; default {DEFAULT_DETECTOR!r} (GET /health "
                                                      "lists them)")
    min_size: Optional[int] = Field(None, ge=MIN_MIN_SIZE, le=MAX_MIN_SIZE,
                                    description=f"smallest face in pixels of the image (default {FaceDetector.min_size})"
                                                "; larger is faster")
    model: Optional[str] = Field(None, description="run id of a stored model (GET /models); default: the server's")
    # DeepFace's fields, so its clients work unchanged
    detector_backend: Optional[str] = Field(None, description="DeepFace's name for `detector` ('opencv' = 'haar')")
    actions: Optional[list[str]] = Field(None, description="DeepFace's actions: only 'emotion' exists here")
    enforce_detection: bool = Field(False, description="true: no face found is an error (400), as in DeepFace")
    align: Optional[bool] = Field(None, description="level the eyes before classifying, when the detector gives "
                                                    "landmarks (yunet); default: the library's (analysis.ALIGN_DEFAULT)")
    silent: Optional[bool] = Field(None, description="accepted for DeepFace clients; no effect")

    @field_validator("actions", mode="before")
    @classmethod
    def _actions_text(cls, v):
        """DeepFace's form fields send actions as text, e.g. ``"[emotion]"`` or ``"emotion, age"``."""
        if isinstance(v, str):
            return [a.strip(" '\"[]()") for a in v.split(",") if a.strip(" '\"[]()")]
        return v

    @field_validator("actions")
    @classmethod
    def _only_emotion(cls, v):
        if v is not None and set(v) != {"emotion"}:
            raise ValueError("only the 'emotion' action is available here; expected ['emotion']")
        return v

    def detector_name(self) -> str:
        alias = DETECTOR_ALIASES.get(self.detector_backend, self.detector_backend)
        if self.detector and alias and self.detector != alias:
            raise ApiError(422, "invalid_request", f"detector and detector_backend disagree. Received: "
                                                   f"detector={self.detector!r}, detector_backend={self.detector_backend!r}")
        name = self.detector or alias or DEFAULT_DETECTOR
        if name not in list_detectors():
            raise ApiError(422, "invalid_request", f"detector must be one of {list_detectors()}. Received: {name!r}")
        return name


class Region(BaseModel):
    x: int
    y: int
    w: int
    h: int


class Face(BaseModel):
    """One face in DeepFace's shape (emotion in percent) plus how sure the detector is that it is a face."""

    model_config = ConfigDict(extra="allow")
    region: Region
    emotion: dict[str, float]
    dominant_emotion: str
    face_confidence: float = Field(description="how sure the detector is that this is a face, 0-1 (YuNet's score; "
                                               "1.0 from Haar, which only says yes or no)")


class ImageSize(BaseModel):
    width: int
    height: int


class AnalyzeResponse(BaseModel):
    results: list[Face] = Field(description="every face, in reading order (empty when none was found)")
    model: str = Field(description="run id of the model that classified the faces")
    backend: str = Field(description="what ran it: onnxruntime-int8, onnxruntime or tensorflow")
    detector: str
    min_size: Optional[int] = Field(description="the smallest face searched for, in px (null: the detector's default)")
    image: ImageSize


_option_props = AnalyzeOptions.model_json_schema()["properties"]
_ANALYZE_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": [IMAGE_FIELD], "properties": {
        IMAGE_FIELD: {"type": "string", "format": "binary", "description": "the image file"},
        **{k: _option_props[k] for k in ("detector", "min_size", "model")}}}},
    "application/json": {"schema": {"type": "object", "required": [IMAGE_FIELD], "properties": {
        IMAGE_FIELD: {"type": "string", "description": "the image, base64 (a data:image/...;base64, prefix is allowed)"},
        **_option_props}}},
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "required": [IMAGE_FIELD], "properties": {
        IMAGE_FIELD: {"type": "string", "description": "the image, base64"},
        **{k: _option_props[k] for k in ("detector", "min_size", "model")}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}},
}}}
_ERRORS = {code: {"model": ErrorBody, "description": what} for code, what in (
    (400, "unreadable image or malformed body"), (401, "API key missing or wrong (when the server has one)"),
    (413, "image larger than the byte or pixel limit"), (415, "unsupported content type"),
    (422, "an option with a bad value or an unknown field"), (503, "too many requests, or queued past the timeout"),
    (504, "the analysis took longer than the timeout"))}


# ---------------------------------------------------------------- per-process state

class ServerState:
    """What one worker process shares between requests: config, models, thread pool and admission slots."""

    def __init__(self, config: ApiConfig, pool: ModelPool | None = None):
        self.config = config
        self.pool = pool if pool is not None else ModelPool(config.model)
        self.executor = ThreadPoolExecutor(config.analysis_threads, thread_name_prefix="fer-api")
        self._slots = threading.BoundedSemaphore(config.max_pending)
        self._pending = 0
        self._count_lock = threading.Lock()
        self.started = time.time()

    def admit(self) -> bool:
        if not self._slots.acquire(blocking=False):
            return False
        with self._count_lock:
            self._pending += 1
        return True

    def release(self, *_) -> None:
        with self._count_lock:
            self._pending -= 1
        self._slots.release()

    @property
    def pending(self) -> int:
        return self._pending


def _state(request: Request) -> ServerState:
    return request.app.state.fer


_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                           description="needed when the server has an API key (FER_API_KEY); "
                                       "`Authorization: Bearer <key>` works too")


async def require_api_key(request: Request, key: Optional[str] = Security(_key_header)) -> None:
    """401 unless the server has no API key or the request carries it (X-API-Key or Authorization: Bearer)."""
    expected = _state(request).config.api_key
    if expected is None:
        return
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else None
    if not key or not hmac.compare_digest(key.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "This server needs its API key, as the X-API-Key header or "
                                            f"Authorization: Bearer <key>. Received: {'a wrong key' if key else 'none'}",
                       headers={"WWW-Authenticate": "Bearer"})


# ---------------------------------------------------------------- the work of one request (on the thread pool)

def run_analysis(state: ServerState, content_type: str | None, body: bytes, query: dict) -> dict:
    """Body -> image and options -> faces, as the JSON of ``AnalyzeResponse``; ``ApiError`` for every bad input."""
    cfg, pool = state.config, state.pool
    image_bytes, fields = parse_body(content_type, body, cfg.max_bytes)
    try:
        opts = AnalyzeOptions.model_validate({**query, **fields})
    except ValidationError as e:
        raise invalid_fields(e) from None
    detector_name = opts.detector_name()
    try:
        pool.path_of(opts.model)
    except UnknownModelError as e:
        raise ApiError(422, "invalid_request", str(e)) from None
    try:
        image = decode_image(image_bytes, name=IMAGE_FIELD, max_pixels=cfg.max_pixels)
    except ImageTooLargeError as e:
        raise ApiError(413, "image_too_large", f"{e} (the server's limit: {ENV['max_pixels']})") from None
    except ImageDecodeError as e:
        raise ApiError(400, "unreadable_image", str(e)) from None
    try:
        model_id, clf = pool.classifier(opts.model)
    except ModelLoadError as e:
        raise ApiError(500, "model_unavailable", f"The model {opts.model or pool.default_id!r} could not be "
                                                 f"loaded: {e}") from None
    detector = pool.detector(detector_name, opts.min_size)
    results = analyze(image, clf, detector, align=opts.align)
    if opts.enforce_detection and not results:
        raise ApiError(400, "no_face", "No face was found and enforce_detection is true (send false to get an empty "
                                       "list instead). Received: an image of "
                                       f"{image.shape[1]}x{image.shape[0]} px")
    return {"results": [r.to_dict() for r in results], "model": model_id, "backend": clf.backend,
            "detector": detector_name, "min_size": opts.min_size,
            "image": {"width": int(image.shape[1]), "height": int(image.shape[0])}}


async def read_body(request: Request, limit: int, deadline: float) -> bytes:
    """The request body, refused with 413 as soon as it (or its declared Content-Length) passes ``limit`` bytes."""
    too_big = ApiError(413, "payload_too_large", f"The request body is larger than the limit of {limit:,} bytes "
                                                 f"({ENV['max_bytes']} for the image, 4/3 of it for base64 JSON).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0

    async def _read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)

    try:
        await asyncio.wait_for(_read(), timeout=max(deadline - time.monotonic(), 0.001))
    except asyncio.TimeoutError:
        raise ApiError(408, "request_timeout", f"The request body did not arrive within the timeout "
                                               f"({ENV['timeout']}). Received: {size:,} bytes") from None
    return b"".join(chunks)


async def answer_within(future: Future, deadline: float, timeout: float) -> dict:
    """The future's result, or 503 (never started: it queued behind others) / 504 (too slow) at the deadline."""
    wrapped = asyncio.wrap_future(future)
    wrapped.add_done_callback(lambda f: f.cancelled() or f.exception())  # a late failure is not "never retrieved"
    done, _ = await asyncio.wait({wrapped}, timeout=max(deadline - time.monotonic(), 0.0))
    if done:
        return wrapped.result()
    if future.cancel():
        raise ApiError(503, "timeout_queued", f"The server was too busy to start this analysis within the "
                                              f"{timeout:g} s timeout ({ENV['timeout']}); retry later.",
                       headers={"Retry-After": "1"})
    raise ApiError(504, "timeout", f"The analysis took longer than the {timeout:g} s timeout ({ENV['timeout']}). "
                                   "A smaller image or a larger min_size is faster.")


# ---------------------------------------------------------------- the app

def create_app(config: ApiConfig | None = None, pool: ModelPool | None = None) -> FastAPI:
    """The app for ``config`` (default: ``ApiConfig.from_env()``); the default model loads at startup. ``pool``
    shares loaded models with another app (its default model then wins over ``config.model``)."""
    config = config if config is not None else ApiConfig.from_env()
    state = ServerState(config, pool)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await asyncio.get_running_loop().run_in_executor(state.executor, state.pool.classifier)
        yield
        state.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="FER emotion API", version="1",
                  description="Facial expression recognition: every face of an image with its emotions, in "
                              "DeepFace's shape. Nothing sent is stored.", lifespan=lifespan)
    app.state.fer = state
    install_handlers(app)

    @app.post("/analyze", response_model=AnalyzeResponse, responses=_ERRORS, openapi_extra=_ANALYZE_BODY,
              dependencies=[Depends(require_api_key)])
    async def analyze_image(request: Request,
                            detector: Optional[str] = Query(None, description=_option_props["detector"]["description"]),
                            min_size: Optional[int] = Query(None, description=_option_props["min_size"]["description"]),
                            model: Optional[str] = Query(None, description=_option_props["model"]["description"])):
        """Every face of the image with its emotions (percent), DeepFace's shape under ``results``. Send the image
        as multipart (file part ``img``), as JSON ``{"img": "<base64>"}`` or raw with an ``image/*`` type. Options
        go in the query or the body (the body wins)."""
        deadline = time.monotonic() + config.timeout
        if not state.admit():
            raise ApiError(503, "overloaded", f"The server is busy ({config.max_pending} requests in progress, "
                                              f"{ENV['max_pending']}); retry later.", headers={"Retry-After": "1"})
        try:
            body = await read_body(request, config.max_body_bytes, deadline)
            query = {k: v for k, v in (("detector", detector), ("min_size", min_size), ("model", model)) if v is not None}
            future = state.executor.submit(run_analysis, state, request.headers.get("content-type"), body, query)
        except BaseException:
            state.release()
            raise
        future.add_done_callback(state.release)
        return await answer_within(future, deadline, config.timeout)

    @app.get("/health")
    async def health() -> dict:
        """Liveness and what this worker serves: default model, its backend, detectors, requests in progress."""
        pool = state.pool
        clf = pool.loaded(pool.default_id)
        return {"status": "ok" if clf is not None else "loading", "model": pool.default_id,
                "backend": clf.backend if clf is not None else None, "detectors": list_detectors(),
                "default_detector": DEFAULT_DETECTOR, "pending": state.pending,
                "uptime_seconds": round(time.time() - state.started, 1)}

    @app.get("/models", dependencies=[Depends(require_api_key)])
    async def models() -> dict:
        """The stored runs a request can name as ``model`` (their labels, architecture and test accuracy)."""
        listed = await asyncio.get_running_loop().run_in_executor(None, state.pool.runs)
        return {"default": state.pool.default_id, "models": listed}

    return app
