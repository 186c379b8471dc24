"""A page opened by its URL on a fresh server gets the app's own navigation (Home first, with icons), not Streamlit's
old pages/-folder sidebar, and shows that page."""
from __future__ import annotations

import pytest

import browser_harness as bh

pytestmark = pytest.mark.browser


def test_a_page_opened_by_url_on_a_fresh_server_has_the_app_navigation(browser_ready):
    sync_api = pytest.importorskip("playwright.sync_api")
    with bh.app_server() as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=bh.chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/Upload_photo")
            page.get_by_role("heading", name="Upload a photo").wait_for(timeout=120_000)
            nav = page.get_by_test_id("stSidebarNav")
            nav.get_by_text("Home", exact=True).wait_for(timeout=60_000)
            assert "streamlit app" not in nav.inner_text()
        finally:
            browser.close()
