"""WebRTC settings for the Webcam page: the ICE servers, from configuration, and the stream's media constraints.

ICE servers come from the environment variable ``FER_ICE_SERVERS`` (a JSON list of RTCIceServer objects), else from
Streamlit secrets (``ice_servers = [...]`` in ``.streamlit/secrets.toml``), else ``[]``. An empty list means host
candidates only: that works on localhost and on a LAN with no STUN/TURN server reachable, and avoids the long ICE
gathering wait that unreachable servers cause. A server behind NAT (cloud hosting) needs a TURN server, e.g.
``[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]``
(see streamlit-webrtc issues #1213 and #1226).
"""
from __future__ import annotations

import json
import os

import streamlit as st

ENV_ICE_SERVERS = "FER_ICE_SERVERS"
SECRETS_KEY = "ice_servers"
MEDIA_CONSTRAINTS = {"video": {"width": 640, "height": 480}, "audio": False}
# A student sharing with a class: what the per-second aggregates need, and no more (issue 24: at 30 fps the codecs
# alone of a class of 30 cost more CPU than a 2-core server has). "ideal" and "max" so that a camera that cannot
# do exactly this still starts; the server downscales whatever larger comes (LiveSettings.max_frame_side).
CLASS_MEDIA_CONSTRAINTS = {"video": {"width": {"ideal": 640, "max": 640}, "height": {"ideal": 360, "max": 480},
                                     "frameRate": {"ideal": 8, "max": 10}}, "audio": False}


class IceConfigError(ValueError):
    """The configured ICE servers are not a list of ``{"urls": ...}`` objects."""


def parse_ice_servers(value, source: str) -> list[dict]:
    """Validate ICE servers given as JSON text or an already parsed list; ``source`` names where they came from."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise IceConfigError(f"{source} must be a JSON list of ICE servers. "
                                 f"Received: {value[:80]!r} ({e.msg})") from None
    if not isinstance(value, (list, tuple)):
        raise IceConfigError(f"{source} must be a list of ICE servers. Received: {type(value).__name__}")
    servers = []
    for i, server in enumerate(value):
        server = dict(server) if hasattr(server, "keys") else server
        if not isinstance(server, dict) or not server.get("urls"):
            raise IceConfigError(f"{source}[{i}] must be an object with \"urls\". Received: {server!r}")
        servers.append(server)
    return servers


def ice_servers() -> tuple[list[dict], str]:
    """The ICE servers to use and where they came from (env variable, secrets, or the localhost/LAN default)."""
    text = os.environ.get(ENV_ICE_SERVERS, "").strip()
    if text:
        return parse_ice_servers(text, f"${ENV_ICE_SERVERS}"), f"${ENV_ICE_SERVERS}"
    try:
        secret = st.secrets.get(SECRETS_KEY)
    except Exception:  # no secrets.toml at all (or an unreadable one) is the common local case
        secret = None
    if secret is not None:
        return parse_ice_servers(list(secret), f"secrets {SECRETS_KEY}"), f"secrets `{SECRETS_KEY}`"
    return [], "none configured (localhost / LAN only)"


def rtc_configuration() -> tuple[dict, str]:
    """``{"iceServers": [...]}`` for ``webrtc_streamer``; a bad configuration warns and falls back to ``[]``."""
    try:
        servers, source = ice_servers()
    except IceConfigError as e:
        st.warning(f"Ignoring the ICE server configuration: {e}")
        servers, source = [], "invalid configuration ignored (localhost / LAN only)"
    return {"iceServers": servers}, source


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0")
DEPLOY_DOCS = "deploy/README.md"


def has_turn(servers: list[dict]) -> bool:
    """Whether any configured ICE server is a TURN server (``turn:`` or ``turns:`` URL)."""
    for server in servers:
        urls = server.get("urls")
        for url in [urls] if isinstance(urls, str) else list(urls or []):
            if str(url).lower().startswith(("turn:", "turns:")):
                return True
    return False


def page_host() -> str:
    """The host name the browser used to reach this page ('' when unknown, e.g. in tests)."""
    from urllib.parse import urlsplit

    try:
        url = st.context.url
    except Exception:
        return ""
    return (urlsplit(url or "").hostname or "").lower()


def ice_warning(host: str | None = None) -> str:
    """A plain-words warning when the page is not served from localhost and no TURN server is configured ('' when
    all is well, or when the host is unknown)."""
    host = page_host() if host is None else host
    if not host or host in LOCAL_HOSTS:
        return ""
    try:
        servers, _ = ice_servers()
    except IceConfigError:
        servers = []
    if has_turn(servers):
        return ""
    return (f"**Remote students may not be able to connect their video.** This page is served from `{host}`, not "
            "from this computer, and no TURN server is configured, so video only reaches the server from the same "
            f"local network. Configure a TURN server in `${ENV_ICE_SERVERS}` or in the `{SECRETS_KEY}` secret: see "
            f"the deployment guide, `{DEPLOY_DOCS}`.")
