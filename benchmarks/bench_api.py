"""REST API throughput on localhost: requests/s and p50/p95 latency at 1, 4 and 16 concurrent clients.

    python benchmarks/bench_api.py [--url http://127.0.0.1:8000] [--clients 1 4 16] [--requests 200] [--seconds 20]
                                   [--detector haar|yunet] [--threads N] [--workers 1] [--warmup 8] [--api-key KEY]

Without ``--url`` it starts ``python -m fer_core.serve`` on a free localhost port (the shipped default model; with
``--threads`` / ``--workers`` passed on) and stops it at the end. Every request POSTs the same 640x480 JPEG as a
multipart upload: scikit-image's astronaut portrait letterboxed in the frame (one face of ~95 px, the frame of
``bench_analyze.py``). Each concurrency level runs until ``--requests`` answers or ``--seconds`` have passed,
whichever comes first, after ``--warmup`` requests per client that are not counted. The client threads run on the
same machine and take some of its CPU: the figures are for server and client together on one box.
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def face_jpeg() -> bytes:
    import cv2

    from bench_analyze import make_frame

    return cv2.imencode(".jpg", make_frame(1), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "fer_core.serve", "--port", str(port), "--workers", str(args.workers),
           "--log-level", "warning", "--max-pending", "256"]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the server did not answer /health within 600 s")


def run_level(url: str, body: bytes, clients: int, n_requests: int, seconds: float, warmup: int,
              headers: dict, params: dict) -> dict:
    """``clients`` threads, each with its own keep-alive connection, POST until the budget is spent."""
    import httpx

    lock = threading.Lock()
    latencies: list[float] = []
    failures: dict[str, int] = {}
    faces: list[int] = []
    issued = 0
    timing: dict[str, float] = {}

    def begin() -> None:  # runs once, when every client has warmed up, before any is released
        timing["start"] = time.perf_counter()
        timing["stop"] = timing["start"] + seconds

    go = threading.Barrier(clients + 1, action=begin)

    def client() -> None:
        nonlocal issued
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            def post():
                return http.post("/analyze", files={"img": ("frame.jpg", body, "image/jpeg")}, params=params)

            for _ in range(warmup):
                post()
            go.wait()
            while True:
                with lock:
                    if issued >= n_requests or time.perf_counter() >= timing["stop"]:
                        return
                    issued += 1
                t0 = time.perf_counter()
                try:
                    r = post()
                    status = str(r.status_code)
                    n_faces = len(r.json().get("results", [])) if r.status_code == 200 else -1
                except httpx.HTTPError as e:
                    status, n_faces = type(e).__name__, -1
                dt = time.perf_counter() - t0
                with lock:
                    if status == "200":
                        latencies.append(dt)
                        faces.append(n_faces)
                    else:
                        failures[status] = failures.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    go.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - timing["start"]
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [float("nan")] * 19
    return {"clients": clients, "ok": len(latencies), "failed": failures, "wall": wall,
            "rps": len(latencies) / wall if wall else 0.0, "p50": 1000 * statistics.median(latencies) if latencies else 0,
            "p95": 1000 * q[18], "one_face": sum(f == 1 for f in faces)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an API already running (default: start one on a free localhost port)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=200, help="answers per concurrency level (at most)")
    ap.add_argument("--seconds", type=float, default=20.0, help="time per concurrency level (at most)")
    ap.add_argument("--warmup", type=int, default=8, help="uncounted requests per client before each level")
    ap.add_argument("--detector", help="the detector option of every request (default: the server's)")
    ap.add_argument("--threads", type=int, default=0, help="the started server's analysis threads (0: per core)")
    ap.add_argument("--workers", type=int, default=1, help="the started server's uvicorn worker processes")
    ap.add_argument("--api-key", default=os.environ.get("FER_API_KEY"), help="for a server that needs one")
    args = ap.parse_args(argv)

    import httpx

    body = face_jpeg()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server(args)
    headers = {"X-API-Key": args.api_key} if args.api_key else {}
    params = {"detector": args.detector} if args.detector else {}
    try:
        health = httpx.get(f"{url}/health", timeout=10).json()
        print(f"server {url}: model {health['model']} ({health['backend']}), detector "
              f"{args.detector or health['default_detector']}; "
              f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); "
              f"request: 640x480 JPEG, {len(body):,} bytes, one face")
        print(f"{'clients':>7} {'answers':>7} {'failed':>8} {'seconds':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
              f"{'1 face':>6}")
        for c in args.clients:
            r = run_level(url, body, c, args.requests, args.seconds, args.warmup, headers, params)
            failed = sum(r["failed"].values())
            print(f"{c:>7} {r['ok']:>7} {failed:>8} {r['wall']:>7.1f} {r['rps']:>7.1f} {r['p50']:>7.1f} "
                  f"{r['p95']:>7.1f} {r['one_face']:>6}" + (f"  failures: {r['failed']}" if failed else ""))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
