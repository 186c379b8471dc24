"""Issue 26's end-to-end lesson in headless Chromium: a teacher and three students. Two fake cameras: a face turned
to the screen (students "Ana" and "Cleo") and the same face turned 60 degrees away (student "Ben"), both rendered by
``fer_core.inference.head_pose.render_turned_face``. Cleo leaves early; the teacher reloads the dashboard (the cookie
brings it back without the token), then ends the lesson, which reaches Ana's page while she streams. Each student's
presence and facing-the-screen share in the class database are within 5 points of what their camera showed."""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

import browser_harness as bh
from fer_core.classroom import store as classroom
from fer_core.classroom import summary
from fer_core.classroom.store import ClassStore

pytestmark = pytest.mark.browser
PHOTO = bh.REPO / "benchmarks" / "data" / "photos" / "openface_lennon_2.jpg"


def turned_clip(path: Path, yaw: float, n_frames: int = 30) -> Path:
    """A still face turned by ``yaw`` degrees, as a Y4M clip for Chromium's fake camera."""
    from fer_core.inference import head_pose as hp
    from fer_core.inference.detection import YuNetDetector

    img = cv2.imread(str(PHOTO))
    det = max(YuNetDetector().detect_scored(img), key=lambda d: d.box[2])
    frame, _ = hp.render_turned_face(img, det.landmarks, yaw, 0.0, out_size=(bh.WIDTH, bh.HEIGHT))
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes()
    with open(path, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{bh.WIDTH} H{bh.HEIGHT} F{bh.FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(n_frames):
            fh.write(b"FRAME\n" + yuv)
    return path


def shared(page) -> int:
    m = re.search(r"(\d+) seconds? shared", page.inner_text("body"))
    return int(m.group(1)) if m else -1


def test_a_lesson_with_one_student_looking_away_and_one_leaving_early(browser_ready, tmp_path):
    from playwright.sync_api import sync_playwright

    db_path = tmp_path / "class.sqlite3"
    facing_clip = turned_clip(tmp_path / "facing.y4m", 0.0)
    away_clip = turned_clip(tmp_path / "away.y4m", 60.0)
    with bh.app_server(env={classroom.ENV_DB: str(db_path)}) as url, sync_playwright() as p:
        front, away = bh.launch(p, facing_clip), bh.launch(p, away_clip)
        try:
            teacher_ctx = front.new_context(viewport={"width": 1400, "height": 1000})
            teacher = teacher_ctx.new_page()
            code, token = bh.create_class_session(teacher, url)
            body = lambda page: page.inner_text("body")  # noqa: E731

            ana, cleo = (front.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2))
            ben = away.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            for page, name in ((ana, "Ana"), (ben, "Ben"), (cleo, "Cleo")):
                bh.join_class_and_start(page, url, code, name, sharing_timeout=180.0)

            # the student's counter moves while streaming
            start = shared(ana)
            bh.wait_for(lambda: shared(ana) >= start + 5, timeout=120, what="Ana's counter to move while streaming")

            # Cleo leaves early
            bh.wait_for(lambda: shared(cleo) >= 10, timeout=120, what="Cleo to share 10 s")
            cleo.get_by_role("button", name="Leave class").click()
            bh.wait_for(lambda: "Left: Cleo" in body(teacher), timeout=60, what="the dashboard to show Cleo left")

            # the teacher reloads: the dashboard comes back (cookie), the token is not shown again
            teacher.reload()
            bh.wait_for(lambda: f"Join code: {code}" in body(teacher), timeout=120,
                     what="the dashboard to come back after a reload")
            assert token not in body(teacher) and "Reopen a session" not in body(teacher)
            bh.wait_for(lambda: "Ben (" in body(teacher) and "not facing the screen" in body(teacher), timeout=120,
                     what="Ben, turned away, to be listed as disengaged")

            bh.wait_for(lambda: shared(ana) >= 30 and shared(ben) >= 30, timeout=240, what="30 s from Ana and Ben")
            teacher.get_by_role("button", name="End lesson").click()
            bh.wait_for(lambda: "Lesson ended" in body(ana), timeout=30,
                     what="the end of the lesson to reach Ana's page while she streams")

            store = ClassStore(f"sqlite:///{db_path}")
            session = store.open_session(token)
            report = summary.lesson_report(store, session.id, session.ended_at + 1)
            by = {p["name"]: p for p in report.summary["participants"]}
            print({n: (e["seconds_attended"], round(e["share_present"], 3), e["share_facing"]) for n, e in by.items()})
            for name in ("Ana", "Ben", "Cleo"):
                assert by[name]["share_present"] >= 0.95, by[name]  # the cameras showed a face all the time
            assert by["Ana"]["share_facing"] >= 0.95 and by["Cleo"]["share_facing"] >= 0.95, by
            assert by["Ben"]["share_facing"] <= 0.05, by["Ben"]
            assert by["Cleo"]["seconds_attended"] < by["Ana"]["seconds_attended"]
            store.close()
        finally:
            front.close()
            away.close()
