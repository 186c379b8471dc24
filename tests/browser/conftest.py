"""What the end-to-end browser tests need: Chromium, playwright, scikit-image (the face clip) and the shipped model;
the tests skip without them."""
from __future__ import annotations

import pytest

import browser_harness as bh
from fer_core import runs


@pytest.fixture(scope="module")
def browser_ready():
    if bh.chromium_path() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright python package is not installed")
    pytest.importorskip("skimage", reason="scikit-image makes the face clip")
    if not (bh.REPO / "streamlit_app.py").is_file():
        pytest.skip("streamlit_app.py is missing")
    try:
        has_model = runs.has_model(runs.default_run_dir())  # a model.keras, or an ensemble's members' ones
    except runs.RunError:
        has_model = False
    if not has_model:
        pytest.skip("the shipped default model (models/default.json) has no model yet")


@pytest.fixture
def postgres_url() -> str:
    """The live PostgreSQL server's URL with empty class tables (``factories.postgres_url_or_skip``: skipped when
    ``$FER_TEST_POSTGRES_URL`` names none), for tests that run several app servers over one class database."""
    from factories import postgres_url_or_skip

    return postgres_url_or_skip()
