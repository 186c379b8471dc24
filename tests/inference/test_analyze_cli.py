"""python -m fer_core.analyze: text and JSON output, unreadable inputs, exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from fer_core.analyze import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    from skimage import data

    d = tmp_path_factory.mktemp("photos")
    portrait = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    files = {"portrait": d / "astronaut.png", "blank": d / "blank.jpg", "corrupt": d / "corrupt.jpg"}
    cv2.imwrite(str(files["portrait"]), portrait)
    cv2.imwrite(str(files["blank"]), portrait[300:, :] * 0 + 90)
    files["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    return files


def test_json_output_in_deepface_shape(photos, tiny_run, capsys):
    code = main([str(photos["portrait"]), str(photos["blank"]), "--json", "--model", str(tiny_run)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in report] == [str(photos["portrait"]), str(photos["blank"])]
    faces = report[0]["faces"]
    assert len(faces) == 1
    assert set(faces[0]) == {"region", "emotion", "dominant_emotion", "face_confidence"}
    assert set(faces[0]["region"]) == {"x", "y", "w", "h"}
    assert abs(sum(faces[0]["emotion"].values()) - 100) < 0.05
    assert report[1]["faces"] == []


def test_unreadable_input_gives_exit_1_and_the_others_are_still_analysed(photos, tiny_run, capsys):
    missing = str(photos["portrait"].parent / "missing.png")
    code = main([str(photos["corrupt"]), str(photos["portrait"]), missing, "--json", "--model", str(tiny_run)])
    assert code == 1
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert "error" in report[0] and "corrupt.jpg" in report[0]["error"]
    assert len(report[1]["faces"]) == 1
    assert "missing.png" in report[2]["error"]
    assert "corrupt.jpg" in out.err and "missing.png" in out.err


def test_text_output_and_detector_options(photos, tiny_run, capsys):
    assert main([str(photos["portrait"]), "--model", str(tiny_run), "--min-neighbors", "4", "--min-size", "40"]) == 0
    out = capsys.readouterr().out
    assert "astronaut.png (512x512): 1 face" in out and "#1 box=" in out
    assert main([str(photos["blank"]), "--model", str(tiny_run), "--whole-image"]) == 0
    assert ": 1 face" in capsys.readouterr().out


def test_detector_choice(photos, tiny_run, capsys):
    for method in ("haar", "yunet"):
        assert main([str(photos["portrait"]), "--model", str(tiny_run), "--detector", method, "--json"]) == 0
        (face,) = json.loads(capsys.readouterr().out)[0]["faces"]
        assert (face["face_confidence"] == 1.0) == (method == "haar")  # YuNet's score is below 1
    assert main([str(photos["portrait"]), "--model", str(tiny_run), "--detector", "yunet", "--min-neighbors", "3"]) == 2
    assert "Haar settings" in capsys.readouterr().err


def test_bad_model_or_settings_exit_2(photos, tmp_path, capsys):
    assert main([str(photos["portrait"]), "--model", str(tmp_path / "nope.keras")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main([str(photos["portrait"]), "--min-size", "1"]) == 2
    assert "min_size" in capsys.readouterr().err


def test_runs_as_a_module(photos, tiny_run):
    proc = subprocess.run([sys.executable, "-m", "fer_core.analyze", str(photos["portrait"]), "--json",
                           "--model", str(tiny_run)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)[0]["faces"][0]["dominant_emotion"]
