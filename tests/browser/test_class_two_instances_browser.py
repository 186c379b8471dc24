"""Two app servers over one PostgreSQL class database, end to end in headless Chromium: a teacher creates a class on
the dashboard of server A, a student (the fake camera playing a real face) joins it from the Webcam page of server B
and streams; A's dashboard shows the student sharing and in view, and the lesson the teacher ends on A reaches the
student's page on B. What a deployment with several Streamlit processes behind one load balancer relies on: nothing
about a class lives in one server's memory."""
from __future__ import annotations

import re

import pytest

import browser_harness as bh
from fer_core.classroom import store as classroom
from fer_core.classroom.store import ClassStore

pytestmark = pytest.mark.browser
STUDENT = "Ana"


def test_a_student_on_server_b_shows_on_the_dashboard_of_server_a(browser_ready, postgres_url, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = bh.write_clip(tmp_path / "face.y4m")
    store = ClassStore(postgres_url)  # the test reads the shared database through its own store
    env = {classroom.ENV_DB: postgres_url}
    try:
        with bh.app_server(env=env) as url_a, bh.app_server(env=env) as url_b, sync_playwright() as p:
            assert url_a != url_b, f"expected two servers on two ports, got {url_a} twice"
            browser = bh.launch(p, clip)
            try:
                body = lambda page: page.inner_text("body")  # noqa: E731
                teacher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                code, token = bh.create_class_session(teacher, url_a)
                session = store.open_session(token)

                student = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                bh.join_class_and_start(student, url_b, code, STUDENT, sharing_timeout=180.0)
                people = store.participants(session.id)
                assert [q.display_name for q in people] == [STUDENT], \
                    f"expected {STUDENT!r} alone in the class in the shared database, got {people}"

                # A never saw this student's browser: what its dashboard shows came through the database
                bh.wait_for(lambda: f"Sharing now: {STUDENT}" in body(teacher), timeout=120,
                            what=f"server A's dashboard to show {STUDENT} (joined on server B) sharing")
                bh.wait_for(lambda: re.search(r"In view now\s*\n?\s*1\b", body(teacher)), timeout=60,
                            what="server A's dashboard to count the student's face in view")
                df = store.seconds(session.id)
                assert df["present"].any(), f"expected a second with the face present from server B, got {len(df)} rows"

                teacher.get_by_role("button", name="End lesson").click()
                bh.wait_for(lambda: store.session(session.id).ended_at is not None, timeout=60,
                            what="the End lesson pressed on server A to end the session in the database")
                bh.wait_for(lambda: "Lesson ended" in body(student), timeout=60,
                            what="the end of the lesson on server A to reach the student's page on server B")
                assert store.participant(people[0].id).status == "left"
            finally:
                browser.close()
    finally:
        store.close()
