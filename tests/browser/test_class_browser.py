"""End to end in headless Chromium: a teacher creates a class on the dashboard, two students (two pages, the fake camera
playing a real face) join it from the Webcam page with the same name and stream into it, the dashboard updates with
both sharing, and a student who closes the tab shows as absent with their rows kept."""
from __future__ import annotations

import re

import pytest

import browser_harness as bh
from fer_core.classroom import store as classroom
from fer_core.classroom.store import ClassStore

pytestmark = pytest.mark.browser


def test_two_students_stream_into_one_class_and_the_dashboard_follows(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    db_path = tmp_path / "class.sqlite3"
    clip = bh.write_clip(tmp_path / "face.y4m")
    with bh.app_server(env={classroom.ENV_DB: str(db_path)}) as url, sync_playwright() as p:
        browser = bh.launch(p, clip)
        try:
            teacher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            code, token = bh.create_class_session(teacher, url)
            body = lambda page: page.inner_text("body")  # noqa: E731

            students = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2)]
            for page in students:  # the same name twice: the second becomes "Ana (2)"
                bh.join_class_and_start(page, url, code, "Ana")
            assert "as Ana (2)" in body(students[1]) or "as Ana (2)" in body(students[0])

            # issue 26: the counter of seconds shared moves while the student streams (not only after STOP)
            def shared(page):
                m = re.search(r"(\d+) seconds? shared", body(page))
                return int(m.group(1)) if m else -1
            first = shared(students[0])
            bh.wait_for(lambda: shared(students[0]) > max(first, 0), timeout=60,
                     what="the student's counter of seconds shared to move while streaming")

            bh.wait_for(lambda: "Sharing now: Ana, Ana (2)" in body(teacher), timeout=360,
                     what="the dashboard to show both students sharing")
            store = ClassStore(f"sqlite:///{db_path}")
            session = store.open_session(token)
            people = {q.display_name: q for q in store.participants(session.id)}
            assert set(people) == {"Ana", "Ana (2)"}

            def both_present():
                df = store.seconds(session.id)
                counts = df[df["present"]].groupby("participant_id").size()
                return all(counts.get(q.id, 0) >= 3 for q in people.values())
            bh.wait_for(both_present, timeout=120, what="3 seconds with the face present from each student")

            # the dashboard keeps updating by itself (fragment): its clock line and the engagement metric move on
            stamp = re.search(r"Updated (\d\d:\d\d:\d\d)", body(teacher)).group(1)
            bh.wait_for(lambda: re.search(r"Updated (\d\d:\d\d:\d\d)", body(teacher)).group(1) != stamp, timeout=30,
                     what="the live view to refresh")
            assert re.search(r"In view now\s*\n?\s*\d", body(teacher)) and "Facing the screen now" in body(teacher)
            assert "not in view, or not facing the screen, for more than" in body(teacher)
            assert teacher.locator(".js-plotly-plot").count() >= 2

            # a student closes the tab: shown absent on the dashboard, rows kept
            gone = people["Ana (2)"]
            kept = store.count_seconds(gone.id)
            students[1].context.close()
            bh.wait_for(lambda: "Absent: Ana (2)" in body(teacher), timeout=90,
                     what="the student who closed the tab to show as absent")
            assert "Sharing now: Ana" in body(teacher)
            assert store.count_seconds(gone.id) >= kept and store.participant(gone.id).left_at is None
            store.close()
        finally:
            browser.close()
