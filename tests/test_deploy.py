"""deploy/: the nginx config passes ``nginx -t`` (skipped without nginx), keeps websocket sessions sticky, and
deploy/README.md lists every environment variable that the app's code reads."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"


def env_variables_read() -> set[str]:
    """``FER_*`` / ``KERAS_BACKEND`` names that fer_core and ui read: os.environ[...] / .get(...), and ENV_* constants."""
    names = set()
    for path in [*(REPO / "fer_core").rglob("*.py"), *(REPO / "ui").rglob("*.py")]:
        text = path.read_text()
        names |= set(re.findall(r"environ(?:\.get)?\(\s*\"([A-Z][A-Z0-9_]+)\"", text))
        names |= set(re.findall(r"environ\[\s*\"([A-Z][A-Z0-9_]+)\"", text))
        names |= set(re.findall(r"^ENV_[A-Z_]+\s*=\s*\"([A-Z][A-Z0-9_]+)\"", text, re.M))
    return {n for n in names if not n.startswith("FER_API_") and n != "TF_CPP_MIN_LOG_LEVEL"}


def test_every_environment_variable_is_documented():
    found = env_variables_read()
    assert {"FER_CLASS_DB", "FER_ICE_SERVERS", "FER_BACKEND"} <= found  # the scan itself works
    doc = (DEPLOY / "README.md").read_text()
    assert [n for n in sorted(found) if f"`{n}`" not in doc] == []


def test_nginx_config_is_sticky_and_upgrades_the_streamlit_websocket():
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream fer_app \{(.*?)\n    \}", conf, re.S).group(1)
    assert re.search(r"^\s*ip_hash;", upstream, re.M)
    stream = re.search(r"location /_stcore/stream \{(.*?)\}", conf, re.S).group(1)
    assert "proxy_set_header Upgrade $http_upgrade;" in stream
    assert "proxy_set_header Connection $connection_upgrade;" in stream
    assert "proxy_http_version 1.1;" in stream and "proxy_read_timeout 86400s;" in stream


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_nginx_accepts_the_config():
    result = subprocess.run(["nginx", "-t", "-c", str(DEPLOY / "nginx.conf"), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_turn_config_uses_secret_auth_and_a_relay_range():
    conf = dict(line.split("=", 1) for line in (DEPLOY / "turnserver.conf").read_text().splitlines()
                if "=" in line and not line.startswith("#"))
    assert conf["realm"] and conf["static-auth-secret"] and int(conf["min-port"]) < int(conf["max-port"])
    assert int(conf["listening-port"]) == 3478 and int(conf["tls-listening-port"]) == 5349
