"""FaceTracker on scripted detections: stable ids, tentative faces, expiry, re-entry; EMA smoothing."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.live.tracking import FaceTracker, centroid_distance, ema, iou


def test_iou_and_centroid_distance():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert centroid_distance((0, 0, 10, 10), (10, 0, 10, 10)) == pytest.approx(1.0)


def test_two_faces_keep_their_ids_while_moving():
    tr = FaceTracker(min_hits=1)
    a, b = [10, 10, 50, 50], [200, 20, 60, 60]
    names = []
    for step in range(10):
        a = [a[0] + 3, a[1] + 1, 50, 50]
        b = [b[0] - 2, b[1], 60, 60]
        boxes = [b, a] if step % 2 else [a, b]  # detection order must not matter
        tracks = tr.update(boxes)
        names.append({tuple(box): t.name for box, t in zip(boxes, tracks)})
    for step_names in names:
        assert sorted(step_names.values()) == ["Face 1", "Face 2"]
    assert names[-1][tuple(a)] == "Face 1" and names[-1][tuple(b)] == "Face 2"
    assert [t.name for t in tr.present()] == ["Face 1", "Face 2"]


def test_fast_move_matched_by_centroid_when_boxes_do_not_overlap():
    tr = FaceTracker(min_hits=1, max_distance=1.5)
    tr.update([(100, 100, 40, 40)])
    (t,) = tr.update([(150, 100, 40, 40)])  # no overlap, 1.25 face widths away
    assert t.name == "Face 1"
    (t,) = tr.update([(400, 100, 40, 40)])  # far away: a different face
    assert t.name == "Face 2"


def test_new_face_needs_min_hits_and_a_one_off_detection_burns_no_id():
    tr = FaceTracker(min_hits=2)
    assert tr.update([(0, 0, 30, 30)]) == [None]  # tentative
    assert tr.update([]) == []  # gone: the false detection is forgotten
    assert tr.update([(100, 100, 30, 30)]) == [None]
    (t,) = tr.update([(102, 100, 30, 30)])
    assert t.name == "Face 1"


def test_track_expires_after_max_missed_and_ids_are_not_reused():
    tr = FaceTracker(min_hits=1, max_missed=2)
    (t,) = tr.update([(0, 0, 40, 40)])
    assert t.name == "Face 1"
    tr.update([])
    tr.update([])
    assert [x.name for x in tr.tracks] == ["Face 1"] and tr.present() == []  # missed twice: still remembered
    (t,) = tr.update([(1, 0, 40, 40)])
    assert t.name == "Face 1"  # came back in time
    for _ in range(3):
        tr.update([])
    assert tr.tracks == []  # missed 3 > max_missed
    (t,) = tr.update([(1, 0, 40, 40)])
    assert t.name == "Face 2"
    tr.reset()
    (t,) = tr.update([(1, 0, 40, 40)])
    assert t.name == "Face 1"


def test_active_tracks_hold_through_a_few_missed_detections():
    tr = FaceTracker(min_hits=1, max_missed=5)
    tr.update([(0, 0, 40, 40)])
    tr.update([])
    tr.update([])
    assert tr.present() == [] and [t.name for t in tr.active(hold=2)] == ["Face 1"]
    tr.update([])
    assert tr.active(hold=2) == [] and [t.name for t in tr.tracks] == ["Face 1"]


def test_ema_and_per_track_smoothing():
    p1, p2 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(ema(None, p1, 0.8), p1)
    np.testing.assert_allclose(ema(p1, p2, 0.0), p2)
    np.testing.assert_allclose(ema(p1, p2, 0.75), [0.75, 0.25])
    with pytest.raises(ValueError, match="strength"):
        ema(p1, p2, 1.0)
    with pytest.raises(ValueError, match="shape"):
        ema(p1, np.ones(3), 0.5)

    tr = FaceTracker(min_hits=1, smoothing=0.5)
    (t,) = tr.update([(0, 0, 40, 40)])
    tr.smooth(t, p1)
    for _ in range(3):
        out = tr.smooth(t, p2)
    np.testing.assert_allclose(out, [0.125, 0.875])

    # a one-frame flicker does not flip a smoothed label, though it flips the raw one
    tr = FaceTracker(min_hits=1, smoothing=0.7)
    (t,) = tr.update([(0, 0, 40, 40)])
    labels = [int(np.argmax(tr.smooth(t, p))) for p in (p2, p2, p2, p1, p2, p2)]
    assert labels == [1] * 6


def test_bad_boxes_and_settings_are_rejected():
    tr = FaceTracker()
    with pytest.raises(ValueError, match="positive width"):
        tr.update([(0, 0, 0, 10)])
    with pytest.raises(ValueError, match="4 numbers"):
        tr.update([(0, 0, 10)])
    with pytest.raises(ValueError, match="min_hits"):
        FaceTracker(min_hits=0)
    with pytest.raises(ValueError, match="strength"):
        FaceTracker(smoothing=1.5)


def test_rescale_moves_every_track_to_the_new_resolution():
    tr = FaceTracker(min_hits=1)
    tr.update([(100, 50, 80, 80), (400, 60, 60, 60)])
    tr.rescale(0.5, 0.5)
    assert [t.box for t in tr.tracks] == [(50, 25, 40, 40), (200, 30, 30, 30)]
    tr.update([(52, 26, 40, 40), (201, 30, 30, 30)])  # the faces, detected in the smaller frame
    assert [t.id for t in tr.present()] == [1, 2]
    with pytest.raises(ValueError, match="sx=0"):
        tr.rescale(0, 1.0)
