"""The REST API (fer_core.api, python -m fer_core.serve): shapes, options, limits, errors, auth, timeouts, a real server."""
from __future__ import annotations

import base64
import io
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from fer_core import runs
from fer_core.api import ApiConfig, ConfigError, create_app
from fer_core.api.model_pool import ModelPool
from fer_core.inference.detection import DEFAULT_DETECTOR
from fer_core.api.serve import build_parser, config_from_args, is_loopback

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- images

def astronaut() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def jpeg(image: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).save(buf, "JPEG", quality=92, **save)
    return buf.getvalue()


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "PNG")  # uint8 grey / RGB / RGBA, uint16 grey (16-bit PNG)
    return buf.getvalue()


def png_with_declared_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height``: a decompression bomb that costs nothing to send."""
    data = bytearray(png(np.zeros((1, 1), np.uint8)))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def noise_png(side: int) -> bytes:
    return png(np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def face_jpeg() -> bytes:
    return jpeg(astronaut())


@pytest.fixture(scope="module")
def pool() -> ModelPool:
    """One model pool for every app of this module, so the shipped model loads once."""
    return ModelPool()


@pytest.fixture(scope="module")
def client(pool):
    with TestClient(create_app(ApiConfig(), pool)) as c:
        yield c


def app_client(pool, **config) -> TestClient:
    return TestClient(create_app(ApiConfig(**config), pool))


def as_multipart(client, data: bytes, name: str = "img", **kw):
    return client.post("/analyze", files={name: ("photo.jpg", data, "image/jpeg")}, **kw)


def as_json(client, data: bytes, prefix: str = "", **fields):
    return client.post("/analyze", json={"img": prefix + base64.b64encode(data).decode(), **fields})


def assert_error(response, status: int, error: str, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == error, body
    for w in words:
        assert w in body["detail"], (w, body)
    return body


# ---------------------------------------------------------------- analyze: shapes and inputs

def test_multipart_photo_gives_deepface_shaped_faces_with_model_and_detector(client, face_jpeg):
    r = as_multipart(client, face_jpeg)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == runs.default_run_dir().name and body["detector"] == DEFAULT_DETECTOR
    assert body["backend"].startswith(("onnxruntime", "tensorflow")) and body["image"] == {"width": 512, "height": 512}
    [face] = body["results"]
    x, y, w, h = (face["region"][k] for k in "xywh")
    assert 150 < x + w / 2 < 300 and 50 < y + h / 2 < 200 and 60 < w < 200  # the astronaut's face
    assert list(face["emotion"]) == list(pool_labels(client))
    assert sum(face["emotion"].values()) == pytest.approx(100, abs=0.01)
    assert face["dominant_emotion"] == max(face["emotion"], key=face["emotion"].get)
    assert 0 < face["face_confidence"] <= 1


def pool_labels(client) -> tuple[str, ...]:
    reg = client.app.state.fer.pool
    return reg.classifier()[1].labels


def test_json_base64_with_or_without_data_prefix_and_raw_bytes_give_the_same_faces(client, face_jpeg):
    ref = as_multipart(client, face_jpeg).json()["results"]
    assert as_json(client, face_jpeg).json()["results"] == ref
    assert as_json(client, face_jpeg, prefix="data:image/jpeg;base64,").json()["results"] == ref
    raw = client.post("/analyze", content=face_jpeg, headers={"Content-Type": "image/jpeg"})
    assert raw.json()["results"] == ref
    form_base64 = client.post("/analyze", data={"img": base64.b64encode(face_jpeg).decode()})  # DeepFace's form field
    assert form_base64.json()["results"] == ref


def test_any_single_file_part_is_the_image(client, face_jpeg):
    assert len(as_multipart(client, face_jpeg, name="file").json()["results"]) == 1


def test_photo_without_a_face_gives_an_empty_list_or_400_with_enforce_detection(client):
    grey = png(np.full((240, 320), 128, np.uint8))
    r = client.post("/analyze", files={"img": ("grey.png", grey, "image/png")})
    assert r.status_code == 200 and r.json()["results"] == []
    assert_error(as_json(client, grey, enforce_detection=True), 400, "no_face", "320x240")


def test_exif_rotation_rgba_and_16_bit_go_through_the_apps_decoder(client):
    upright = astronaut()
    ref = as_multipart(client, jpeg(upright)).json()["results"][0]["region"]
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the stored pixels are turned the other way
    stored = np.ascontiguousarray(np.rot90(upright))
    rotated = as_multipart(client, jpeg(stored, exif=exif.tobytes())).json()
    assert rotated["image"] == {"width": 512, "height": 512}
    region = rotated["results"][0]["region"]
    assert all(abs(region[k] - ref[k]) <= 6 for k in "xywh"), (region, ref)
    rgba = cv2.cvtColor(upright, cv2.COLOR_BGR2RGBA)
    assert len(client.post("/analyze", files={"img": ("a.png", png(rgba), "image/png")}).json()["results"]) == 1
    grey16 = (cv2.cvtColor(upright, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    assert len(client.post("/analyze", files={"img": ("a.png", png(grey16), "image/png")}).json()["results"]) == 1


def test_options_from_query_or_body_reach_the_detector(client, face_jpeg):
    big = as_multipart(client, face_jpeg, params={"min_size": 300}).json()
    assert big["min_size"] == 300 and big["results"] == []  # the 100 px face is below 300 px
    assert as_json(client, face_jpeg, min_size=64).json()["min_size"] == 64
    body_wins = client.post("/analyze", params={"min_size": 300}, json={"img": base64.b64encode(face_jpeg).decode(),
                                                                       "min_size": 64}).json()
    assert body_wins["min_size"] == 64 and len(body_wins["results"]) == 1
    haar = as_json(client, face_jpeg, detector_backend="opencv", actions=["emotion"]).json()
    assert haar["detector"] == "haar" and haar["results"][0]["face_confidence"] == 1.0  # Haar only says yes or no
    plain, aligned = (as_json(client, face_jpeg, detector="yunet", align=a).json()["results"] for a in (False, True))
    assert plain[0]["region"] == aligned[0]["region"] and len(aligned) == 1  # align levels the crop, not the box


def test_another_stored_model_can_be_named(client, face_jpeg):
    listed = {m["id"]: m for m in client.get("/models").json()["models"]}
    other = next((m for m in listed.values() if not m["default"] and m["kind"] == "trained"
                  and m["labels"] != list(pool_labels(client))), None)
    if other is None:
        pytest.skip("no stored run with other labels than the default")
    body = as_json(client, face_jpeg, model=other["id"]).json()
    assert body["model"] == other["id"] and list(body["results"][0]["emotion"]) == other["labels"]


def test_concurrent_requests_share_one_model_and_agree(client, face_jpeg):
    ref = as_multipart(client, face_jpeg).json()["results"]
    out, errors = [], []

    def call():
        try:
            out.append(as_multipart(client, face_jpeg).json()["results"])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(out) == 6 and all(o == ref for o in out)
    assert client.app.state.fer.pool._classifiers.keys() >= {runs.default_run_dir().name}


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("data, words", [(b"", ["empty"]), (b"GIF89a-but-not-really", ["corrupt", "not an image"]),
                                         (b"this is text", ["not an image"])])
def test_unreadable_image_is_400(client, data, words):
    body = assert_error(client.post("/analyze", files={"img": ("x.jpg", data, "image/jpeg")}), 400, "unreadable_image")
    assert any(w in body["detail"] for w in words), body


def test_truncated_jpeg_is_400(client, face_jpeg):
    assert_error(as_multipart(client, face_jpeg[:len(face_jpeg) // 3]), 400, "unreadable_image", "corrupt")


def test_bad_base64_and_urls_are_400_and_never_fetched(client):
    assert_error(client.post("/analyze", json={"img": "not base64 !!"}), 400, "unreadable_image", "base64")
    assert_error(client.post("/analyze", json={"img": "https://example.org/face.jpg"}), 400, "unreadable_image",
                 "never fetches URLs")
    assert_error(client.post("/analyze", content=b"{not json", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")


@pytest.mark.parametrize("fields, words", [
    ({"min_size": 2}, ["min_size", "greater than or equal to 8"]),
    ({"min_size": "big"}, ["min_size", "integer"]),
    ({"detector": "mtcnn"}, ["detector must be one of", "mtcnn"]),
    ({"model": "no_such_run"}, ["GET /models", "no_such_run"]),
    ({"colour": "red"}, ["colour", "Extra inputs"]),
    ({"actions": ["age", "emotion"]}, ["only the 'emotion' action"]),
    ({"detector": "haar", "detector_backend": "retinaface"}, ["disagree"]),
])
def test_bad_fields_are_422_naming_the_field(client, face_jpeg, fields, words):
    assert_error(as_json(client, face_jpeg, **fields), 422, "invalid_request", *words)


def test_bad_query_parameter_and_missing_image_are_422(client, face_jpeg):
    assert_error(as_multipart(client, face_jpeg, params={"min_size": "x"}), 422, "invalid_request", "min_size")
    assert_error(client.post("/analyze", json={"detector": "haar"}), 422, "invalid_request", "missing")
    assert_error(client.post("/analyze", data={"detector": "haar"}), 422, "invalid_request", "missing")


def test_other_content_types_and_routes_are_json_errors(client):
    assert_error(client.post("/analyze", content=b"hello", headers={"Content-Type": "text/plain"}), 415,
                 "unsupported_media_type", "text/plain")
    assert_error(client.get("/nowhere"), 404, "not_found")
    assert_error(client.get("/analyze"), 405, "method_not_allowed")


def test_too_many_bytes_is_413_for_every_body_form(pool, face_jpeg):
    big = noise_png(200)  # ~120 KB
    with app_client(pool, max_bytes=50_000) as c:
        assert_error(as_multipart(c, big), 413, "payload_too_large", "50,000")
        assert_error(as_json(c, big), 413, "payload_too_large")
        assert_error(c.post("/analyze", content=big, headers={"Content-Type": "image/png"}), 413, "payload_too_large")
        # a base64 body a bit larger than max_bytes is read, but its image must still fit
        assert_error(as_json(c, noise_png(120)[:40_000] + b"\0" * 20_000), 413, "payload_too_large", "60,000")
        small = jpeg(cv2.resize(astronaut(), (256, 256)))
        assert len(small) < 50_000 and as_multipart(c, small).status_code == 200


def test_decompression_bomb_is_413_without_decoding_its_pixels(client, monkeypatch, face_jpeg):
    from PIL import ImageFile

    loads = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or real_load(self))
    for w, h in ((30_000, 30_000), (8_000, 8_000)):  # beyond Pillow's own bomb limit; beyond only ours (50 MP)
        bomb = png_with_declared_size(w, h)
        assert len(bomb) < 100
        assert_error(client.post("/analyze", files={"img": ("bomb.png", bomb, "image/png")}), 413, "image_too_large",
                     "too large")
    assert loads == []  # refused from the header alone
    assert as_multipart(client, face_jpeg).status_code == 200 and loads  # a normal photo is decoded


def test_pixel_limit_comes_from_config(pool, face_jpeg):
    with app_client(pool, max_pixels=100_000) as c:
        assert_error(as_multipart(c, face_jpeg), 413, "image_too_large", "512x512", "FER_API_MAX_PIXELS")


def test_uploads_over_one_mebibyte_stay_in_memory(client, monkeypatch):
    from python_multipart.multipart import File

    def no_disk(self):
        raise AssertionError("an upload was about to be written to a temporary file")

    monkeypatch.setattr(File, "flush_to_disk", no_disk)
    big = noise_png(700)
    assert len(big) > 1_100_000
    assert client.post("/analyze", files={"img": ("noise.png", big, "image/png")}).status_code == 200


# ---------------------------------------------------------------- API key, timeouts, admission

def test_api_key_is_required_when_configured(pool, face_jpeg):
    with app_client(pool, api_key="s3cret") as c:
        assert_error(as_multipart(c, face_jpeg), 401, "unauthorized", "none")
        assert_error(as_multipart(c, face_jpeg, headers={"X-API-Key": "guess"}), 401, "unauthorized", "wrong key")
        assert_error(c.get("/models"), 401, "unauthorized")
        assert as_multipart(c, face_jpeg, headers={"X-API-Key": "s3cret"}).status_code == 200
        assert as_multipart(c, face_jpeg, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/health").status_code == 200  # load balancers probe it without the key


@pytest.fixture
def stalled_analysis(monkeypatch):
    """``analyze`` blocks until the test releases it (a slow analysis without burning CPU)."""
    gate = threading.Event()
    started = threading.Event()

    def blocking(*args, **kwargs):
        started.set()
        gate.wait(30)
        return []

    monkeypatch.setattr("fer_core.api.app.analyze", blocking)
    yield started
    gate.set()


def test_timeout_gives_504_when_running_and_503_when_still_queued(pool, face_jpeg, stalled_analysis):
    with app_client(pool, timeout=0.5, threads=1, max_pending=4) as c:
        assert_error(as_multipart(c, face_jpeg), 504, "timeout", "0.5 s")
        assert stalled_analysis.is_set()
        # the only analysis thread is still busy with the first request: the next one never starts
        r = as_multipart(c, face_jpeg)
        assert_error(r, 503, "timeout_queued", "0.5 s")
        assert r.headers["Retry-After"] == "1"


def test_requests_beyond_max_pending_get_503_at_once(pool, face_jpeg, stalled_analysis):
    with app_client(pool, timeout=0.3, threads=1, max_pending=1) as c:
        assert_error(as_multipart(c, face_jpeg), 504, "timeout")  # its analysis still holds the only slot
        assert_error(as_multipart(c, face_jpeg), 503, "overloaded", "FER_API_MAX_PENDING")
        assert c.get("/health").json()["pending"] == 1


# ---------------------------------------------------------------- health, models, docs

def test_health_models_and_docs(client):
    health = client.get("/health").json()
    default = runs.default_run_dir().name
    assert health["status"] == "ok" and health["model"] == default and DEFAULT_DETECTOR in health["detectors"]
    listed = client.get("/models").json()
    assert listed["default"] == default
    ids = {m["id"]: m for m in listed["models"]}
    assert ids[default]["default"] and ids[default]["loaded"] and ids[default]["labels"]
    clip_runs = [p.name for p in runs.find_runs() if (runs.load_run(p).config.get("kind") == "clip")]
    assert not set(clip_runs) & set(ids)  # clip models classify sequences, not photos
    assert all(runs.has_model(runs.RUNS_DIR / i) for i in ids if (runs.RUNS_DIR / i).is_dir())
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/analyze", "/health", "/models"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/analyze"]["post"]["requestBody"]["content"]


# ---------------------------------------------------------------- config and command line

def test_config_from_environment_and_flags():
    env = {"FER_API_MAX_BYTES": "1_000_000", "FER_API_TIMEOUT": "2.5", "FER_API_KEY": "k", "FER_API_THREADS": ""}
    cfg = ApiConfig.from_env(env)
    assert (cfg.max_bytes, cfg.timeout, cfg.api_key, cfg.threads) == (1_000_000, 2.5, "k", 0)
    assert ApiConfig.from_env(cfg.to_env()) == cfg
    args = build_parser().parse_args(["--max-bytes", "5000", "--timeout", "9", "--host", "0.0.0.0"])
    flags = config_from_args(args, env)
    assert (flags.max_bytes, flags.timeout, flags.api_key) == (5000, 9.0, "k")  # a flag wins over its variable
    assert args.port == 8000 and build_parser().parse_args([]).host == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")


@pytest.mark.parametrize("env, words", [({"FER_API_MAX_BYTES": "ten"}, ["FER_API_MAX_BYTES", "integer", "ten"]),
                                        ({"FER_API_TIMEOUT": "0"}, ["FER_API_TIMEOUT", "positive"]),
                                        ({"FER_API_MAX_PENDING": "-1"}, ["FER_API_MAX_PENDING"])])
def test_bad_settings_name_their_variable(env, words):
    with pytest.raises(ConfigError) as info:
        ApiConfig.from_env(env)
    assert all(w in str(info.value) for w in words), str(info.value)


def test_cli_refuses_a_bad_setting_before_starting(capsys):
    from fer_core.serve import main

    assert main(["--timeout", "-1"]) == 2
    assert "FER_API_TIMEOUT" in capsys.readouterr().err


# ---------------------------------------------------------------- a real uvicorn process

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_uvicorn_server_on_localhost(face_jpeg, tmp_path):
    import httpx

    port = free_port()
    env = {**os.environ, "FER_API_KEY": "k3y", "PYTHONPATH": str(REPO)}
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fer_core.serve", "--port", str(port), "--max-bytes", "200000",
                                 "--log-level", "warning"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # a hang guard: loading the model takes ~10 s idle, minutes on a busy box
        while True:
            assert proc.poll() is None, f"the server exited ({proc.returncode}): {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{base}/health", timeout=2).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health within 600 s"
            time.sleep(0.5)
        key = {"X-API-Key": "k3y"}
        with httpx.Client(base_url=base, headers=key, timeout=60) as http:
            results = []
            threads = [threading.Thread(target=lambda: results.append(
                http.post("/analyze", files={"img": ("a.jpg", face_jpeg, "image/jpeg")}).json())) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert len(results) == 4 and all(r == results[0] for r in results)
            assert len(results[0]["results"]) == 1 and results[0]["model"] == runs.default_run_dir().name
            too_big = http.post("/analyze", files={"img": ("n.png", noise_png(300), "image/png")})  # the flag's limit
            assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
        no_key = httpx.post(f"{base}/analyze", files={"img": ("a.jpg", face_jpeg, "image/jpeg")}, timeout=60)
        assert no_key.status_code == 401 and no_key.json()["error"] == "unauthorized"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
