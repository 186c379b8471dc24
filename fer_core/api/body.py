"""``POST /analyze`` request bodies -> the image's bytes and the option fields, all in memory (nothing on disk).

Three forms: multipart (the file part ``img``, DeepFace's name, or the only file part; option fields beside it), JSON
or a url-encoded form (``img``: a base64 image, with or without a ``data:image/...;base64,`` prefix, as DeepFace takes
it), or the raw image bytes with an ``image/*`` content type.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import parse_qsl

import python_multipart
from python_multipart.exceptions import FormParserError

from .errors import ApiError

IMAGE_FIELD = "img"  # DeepFace's field name
_DATA_URL = re.compile(r"^data:[\w.+-]*/?[\w.+-]*(;[\w=.+-]+)*;base64,", re.IGNORECASE)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(content_type: str | None, body: bytes, max_bytes: int) -> tuple[bytes, dict]:
    """``(image bytes, option fields)`` from a request body of ``content_type``; ``ApiError`` 400/413/415/422."""
    kind = media_type(content_type)
    if kind == "multipart/form-data":
        image, fields = _multipart(content_type or "", body)
    elif kind == "application/x-www-form-urlencoded":  # a form post of the base64 text, as DeepFace takes it
        fields = _urlencoded(body)
        image = fields.pop(IMAGE_FIELD, None)
    elif kind == "application/json" or kind.endswith("+json"):
        fields = _json_object(body)
        image = fields.pop(IMAGE_FIELD, None)
    elif kind.startswith("image/") or kind == "application/octet-stream":
        image, fields = body, {}
    else:
        raise ApiError(415, "unsupported_media_type",
                       "Send multipart/form-data (file part 'img'), JSON or a url-encoded form ({\"img\": base64}), "
                       f"or the raw image with an image/* content type. Received: Content-Type={content_type!r}")
    if isinstance(image, str):
        image = decode_base64(image)
    if image is None:
        raise ApiError(422, "invalid_request", f"The image is missing: expected a file part or a field named "
                                               f"{IMAGE_FIELD!r}. Received: fields={sorted(fields)}")
    if not isinstance(image, bytes):
        raise ApiError(422, "invalid_request", f"{IMAGE_FIELD} must be a base64 string. "
                                               f"Received: {type(image).__name__}")
    if len(image) > max_bytes:
        raise ApiError(413, "payload_too_large", f"The image file is larger than the limit of {max_bytes:,} bytes. "
                                                 f"Received: {len(image):,} bytes")
    return image, fields


def decode_base64(text: str) -> bytes:
    """A base64 image, optionally a ``data:`` URL; URLs and paths are refused (the server never fetches or opens)."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        # DeepFace also takes a URL or a path here; this server never fetches or opens one (base64 has no '.' or ':')
        looks_like_a_path = re.search(r"[.:~\\]", text)
        hint = " (this server never fetches URLs or opens paths: send the image itself)" if looks_like_a_path else ""
        raise ApiError(400, "unreadable_image", f"{IMAGE_FIELD} must be a base64-encoded image, optionally after a "
                                                f"'data:image/...;base64,' prefix{hint}. Received: {len(text)} "
                                                f"characters starting {text[:40]!r}") from None


def _json_object(body: bytes) -> dict:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON ({e}). Received: {len(body)} bytes") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_request", f"The JSON body must be an object like {{\"img\": \"<base64>\"}}. "
                                               f"Received: {type(data).__name__}")
    return data


def _urlencoded(body: bytes) -> dict:
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, "invalid_form",
                       f"The form body could not be parsed ({e}). Received: {len(body)} bytes") from None
    return dict(pairs)


def _multipart(content_type: str, body: bytes) -> tuple[bytes | str | None, dict]:
    """The image part and text fields; file parts stay in memory (python-multipart spills to disk above 1 MiB
    unless told otherwise)."""
    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}

    def on_field(field) -> None:
        fields[field.field_name.decode("utf-8", "replace")] = (field.value or b"").decode("utf-8", "replace")

    def on_file(file) -> None:
        file.file_object.seek(0)
        files[file.field_name.decode("utf-8", "replace")] = file.file_object.read()

    try:
        parser = python_multipart.create_form_parser({"Content-Type": content_type}, on_field, on_file,
                                                     config={"MAX_MEMORY_FILE_SIZE": float("inf")})
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as e:
        raise ApiError(400, "invalid_multipart", f"The multipart body could not be parsed ({e}). "
                                                 f"Received: Content-Type={content_type!r}, {len(body)} bytes") from None
    if IMAGE_FIELD in files:
        return files[IMAGE_FIELD], fields
    if len(files) == 1:
        return next(iter(files.values())), fields
    if len(files) > 1:
        raise ApiError(422, "invalid_request", f"Several file parts and none named {IMAGE_FIELD!r}: which is the image? "
                                               f"Received: file parts {sorted(files)}")
    return fields.pop(IMAGE_FIELD, None), fields
