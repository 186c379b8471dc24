"""LiveProcessor: detection every k-th frame with carried boxes, tracking ids, smoothing, mirror, measurements, the
engagement record, reset, errors kept out of the stream, and the real pipeline on a real face (astronaut)."""
from __future__ import annotations

import threading

import av
import cv2
import numpy as np
import pytest

from fer_core.labels import EMOTIONS
from fer_core.live.processor import LiveProcessor, LiveSettings


class FakeClassifier:
    """Answers 'happy' for bright crops and 'sad' for dark ones, without TensorFlow."""

    def __init__(self, labels=EMOTIONS):
        self.labels = tuple(labels)
        self.name = "fake"
        self.calls = 0

    def predict_proba(self, faces, tta=None, photo=False):
        self.calls += 1
        self.tta = tta
        out = np.full((len(faces), len(self.labels)), 0.02, np.float32)
        for i, face in enumerate(faces):
            k = self.labels.index("happy") if np.mean(face) > 127 else self.labels.index("sad")
            out[i, k] = 1.0
        return out / out.sum(axis=1, keepdims=True)


class ScriptedDetector:
    """A detector factory returning scripted boxes and recording the grey frames it was given."""

    def __init__(self, boxes_per_call):
        self.boxes_per_call = list(boxes_per_call)
        self.calls = []
        self.built_with = []

    def __call__(self, settings):
        self.built_with.append(settings.detector_params())

        def detect(gray):
            self.calls.append(gray)
            i = len(self.calls) - 1
            return self.boxes_per_call[min(i, len(self.boxes_per_call) - 1)]
        return detect


class Clock:
    def __init__(self, step=0.025):
        self.t, self.step = 100.0, step

    def __call__(self):
        self.t += self.step
        return self.t


def frame(bright_box=None, size=(480, 640)):
    img = np.full((*size, 3), 60, np.uint8)
    if bright_box:
        x, y, w, h = bright_box
        img[y:y + h, x:x + w] = 230
    return img


def make(boxes_per_call, **settings):
    det = ScriptedDetector(boxes_per_call)
    settings = {"mirror": False, **settings}
    proc = LiveProcessor(FakeClassifier(), LiveSettings(**settings), detector_factory=det, clock=Clock())
    return proc, det


def test_settings_validation_and_sensitivity():
    with pytest.raises(ValueError, match="detect_every"):
        LiveSettings(detect_every=0)
    with pytest.raises(ValueError, match="smoothing"):
        LiveSettings(smoothing=1.0)
    with pytest.raises(ValueError, match="sensitivity"):
        LiveSettings(sensitivity=2)
    with pytest.raises(ValueError, match="hold_missed"):
        LiveSettings(hold_missed=3, max_missed=2)
    strict = LiveSettings(sensitivity=0, detector="haar").detector_params()
    loose = LiveSettings(sensitivity=1, detector="haar").detector_params()
    assert strict["min_neighbors"] > loose["min_neighbors"] and strict["min_size"] > loose["min_size"]
    assert strict["method"] == "haar" and strict["rotations"] == ()  # upright only: turned searches cost 3x
    strict = LiveSettings(sensitivity=0, detector="yunet").detector_params()
    loose = LiveSettings(sensitivity=1, detector="yunet").detector_params()
    assert strict["score_threshold"] > loose["score_threshold"] and strict["min_size"] > loose["min_size"]
    assert LiveSettings(detector="yunet").detector_params()["score_threshold"] == 0.7  # YuNet's default at 0.5
    for method in ("haar", "yunet"):
        assert LiveSettings(detect_width=256, detector=method).detector_params()["max_side"] == 256
    with pytest.raises(ValueError, match=r"Expected one of \['haar', 'yunet'\]"):
        LiveSettings(detector="mtcnn")


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_live_classifies_with_the_settings_tta(tta):
    """Live frames skip test-time augmentation by default (the EMA already averages over frames)."""
    box = (200, 100, 120, 120)
    proc, _ = make([[box]], tta=tta)
    for _ in range(3):
        proc.process(frame(box))
    assert proc.classifier.calls > 0
    assert proc.classifier.tta == tta and LiveSettings().tta == "none"


def test_detection_every_k_frames_with_boxes_carried_between():
    box = (200, 100, 120, 120)
    proc, det = make([[box]], detect_every=3)
    for _ in range(9):
        out = proc.process(frame(box))
    snap = proc.snapshot()
    # frames 0 and 1 detect (a new face must be seen twice to get an id), then every 3rd frame
    assert len(det.calls) == 4
    assert snap.frames == 9 and [f.name for f in snap.faces] == ["Face 1"]
    main = snap.main_face
    assert main.box == box and main.emotion == "happy" and main.confidence > 0.8
    assert sum(main.probabilities) == pytest.approx(1.0, abs=1e-5)
    assert proc.classifier.calls == 1 + 8  # a warm-up call, then every frame with a tracked face
    assert out.shape == (480, 640, 3) and not np.array_equal(out, frame(box))  # annotated
    assert snap.error == "" and snap.processing_ms > 0


def test_a_missed_detection_keeps_the_face_at_its_last_box_and_detects_again_at_once():
    box = (200, 100, 120, 120)
    proc, det = make([[box], [box], [], [], [], []], detect_every=3, hold_missed=2, max_missed=5)
    names, calls = [], []
    for _ in range(8):
        proc.process(frame(box))
        names.append([f.name for f in proc.snapshot().faces])
        calls.append(len(det.calls))
    # detections at frames 0, 1 (confirmed), 4 (missed), then every frame while missing: 5 (2nd miss), 6 (3rd miss)
    assert calls == [1, 2, 2, 2, 3, 4, 5, 6]
    assert names == [[], ["Face 1"], ["Face 1"], ["Face 1"], ["Face 1"], ["Face 1"], [], []]


def test_no_face_detects_every_frame_and_records_absence():
    proc, det = make([[]], detect_every=5)
    for _ in range(4):
        out = proc.process(frame())
    assert len(det.calls) == 4 and proc.snapshot().faces == () and proc.snapshot().main_face is None
    np.testing.assert_array_equal(out, frame())
    assert proc.recorder.summary()["recorded_seconds"] == 1 and proc.recorder.rows() == []


def test_smoothing_keeps_the_label_through_a_one_frame_change():
    box = (100, 100, 100, 100)
    proc, _ = make([[box]], detect_every=1, smoothing=0.8)
    for _ in range(6):
        proc.process(frame(box))
    proc.process(frame())  # the face turns dark for one frame: raw label 'sad'
    assert proc.snapshot().main_face.emotion == "happy"
    proc.update_settings(smoothing=0.0)
    proc.process(frame())
    assert proc.snapshot().main_face.emotion == "sad"


def test_mirror_flips_before_detection():
    proc, det = make([[]], mirror=True)
    img = frame((0, 0, 40, 40))  # bright square top-left
    out = proc.process(img)
    assert det.calls[0].shape == (480, 640)
    assert det.calls[0][5, -5] > 200 and det.calls[0][5, 5] < 100  # the detector saw the mirrored frame
    assert out[10, -10].tolist() == [230] * 3
    proc.update_settings(mirror=False)
    proc.process(img)
    assert det.calls[1][5, 5] > 200


def test_sensitivity_change_rebuilds_the_detector():
    proc, det = make([[]])
    proc.process(frame())
    proc.process(frame())
    proc.update_settings(sensitivity=1.0)
    proc.process(frame())
    # the wide search (no face yet), the narrow one, then the narrow one rebuilt with the new sensitivity
    assert len(det.built_with) == 3 and det.built_with[2] == LiveSettings(sensitivity=1.0).detector_params()


def test_detector_change_rebuilds_it_and_yunet_gets_the_colour_frame():
    class ColourDetector:
        color_input = True

        def __init__(self):
            self.seen = []

        def __call__(self, image):
            self.seen.append(image)
            return []

    built = []

    def factory(settings):
        built.append(settings.detector)
        return ColourDetector() if settings.detector == "yunet" else (lambda gray: built.append(gray.ndim) or [])

    proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False, detector="haar"), detector_factory=factory,
                         clock=Clock())
    img = frame((200, 100, 120, 120))
    proc.process(img)
    proc.update_settings(detector="yunet")
    proc.process(img)
    assert built[:2] == ["haar", 2]  # Haar was handed the grey frame
    assert built[2] == "yunet"
    assert proc._detector.seen[0].shape == img.shape and np.array_equal(proc._detector.seen[0], img)  # colour


@pytest.mark.parametrize("method", ["haar", "yunet"])
def test_the_real_detectors_find_a_face_in_live_frames(method):
    """The default factory builds the picked detector, tuned by the sensitivity; both find the astronaut."""
    from skimage import data

    from fer_core.inference.haar import FaceDetector
    from fer_core.inference.yunet import YuNetDetector
    from fer_core.live.processor import face_detector

    det = face_detector(LiveSettings(detector=method))
    assert isinstance(det, {"haar": FaceDetector, "yunet": YuNetDetector}[method])
    img = np.full((480, 640, 3), 90, np.uint8)
    img[60:420, 140:500] = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (360, 360))
    proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False, detector=method), clock=Clock(), warm_up=False)
    for _ in range(6):  # a track is confirmed after more than one detection
        proc.process(img)
    assert len(proc.snapshot().faces) == 1


def test_two_faces_ids_and_main_face_is_the_largest():
    small, big = (20, 20, 60, 60), (300, 100, 150, 150)
    proc, _ = make([[small, big]], detect_every=1)
    for _ in range(3):
        proc.process(frame(big))
    snap = proc.snapshot()
    assert [f.name for f in snap.faces] == ["Face 1", "Face 2"]
    assert snap.main_face.name == "Face 2" and snap.main_face.emotion == "happy"
    assert {f.name: f.emotion for f in snap.faces} == {"Face 1": "sad", "Face 2": "happy"}


def test_engagement_is_recorded_per_face_and_reset_restarts():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]], detect_every=2)
    for _ in range(60):  # Clock steps 25 ms twice per frame: 60 frames = 3 s
        proc.process(frame(box))
    summary = proc.recorder.summary()
    assert summary["recorded_seconds"] == 3
    face = summary["faces"]["Face 1"]
    assert face["seconds_present"] == 3 and face["emotion_share"]["happy"] == 1.0
    # issue 26: a detector without landmarks gives no head pose: facing the screen is unknown, and so is the index
    # (it was: the Haar eye cascade found no eye in the synthetic face, index 0, "disengaged" throughout)
    assert face["mean_engagement"] is None and face["share_facing"] is None
    assert proc.recorder.rows()[0]["facing"] is None
    proc.reset()
    assert proc.recorder.empty and proc.snapshot().frames == 0
    proc.process(frame(box))
    proc.process(frame(box))
    assert proc.snapshot().faces[0].name == "Face 1" and proc.snapshot().frames == 2


def test_fps_and_queueing_delay_from_the_clock_and_stream_times():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]])
    for i in range(20):
        # the clock advances 25 ms at start and 25 ms at end of each frame: 20 frames/s
        proc.process(frame(box), stream_time=i * 0.05 - (0.1 if i == 10 else 0.0))
    snap = proc.snapshot()
    assert snap.fps == pytest.approx(20.0)
    assert snap.processing_ms == pytest.approx(25.0)
    assert snap.lag_ms == pytest.approx(0.0, abs=1e-6)  # frames reach the callback as fast as the stream sends them


def test_callback_takes_and_returns_video_frames_and_survives_errors():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]])
    vf = av.VideoFrame.from_ndarray(frame(box), format="bgr24")
    out = proc.callback(vf)
    assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (640, 480)

    def broken(_faces, tta=None, photo=False):
        raise RuntimeError("model exploded")

    proc.classifier.predict_proba = broken
    proc.callback(vf)
    out = proc.callback(vf)
    assert "model exploded" in proc.snapshot().error
    np.testing.assert_array_equal(out.to_ndarray(format="bgr24"), frame(box))  # passed through unprocessed


def test_stream_end_clears_the_live_faces_but_keeps_the_record():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]])
    for _ in range(3):
        proc.process(frame(box))
    proc.stream_ended()
    snap = proc.snapshot()
    assert snap.faces == () and snap.fps == 0.0 and snap.frames == 3
    assert proc.recorder.summary()["faces"]["Face 1"]["seconds_present"] == 1


def test_model_with_other_labels_restarts_the_record():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]])
    for _ in range(3):
        proc.process(frame(box))
    proc.set_classifier(FakeClassifier(EMOTIONS))  # same labels: record kept
    assert not proc.recorder.empty
    proc.set_classifier(FakeClassifier(("happy", "sad", "neutral")))
    assert proc.recorder.empty and proc.recorder.labels == ("happy", "sad", "neutral")
    proc.process(frame(box))
    proc.process(frame(box))
    assert len(proc.snapshot().main_face.probabilities) == 3


def test_snapshot_is_readable_while_another_thread_processes():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]], detect_every=1)
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append(proc.snapshot().frames)

    th = threading.Thread(target=reader)
    th.start()
    for _ in range(30):
        proc.process(frame(box))
    stop.set()
    th.join()
    assert seen == sorted(seen) and proc.snapshot().frames == 30


def test_draw_faces_draws_in_place_with_the_track_name():
    from fer_core.live.processor import FaceStatus, crop_face, draw_faces

    img = frame()
    face = FaceStatus("Face 7", (200, 100, 120, 120), (0.1, 0.9), "happy", 0.9, 2, 0.67)
    out = draw_faces(img, [face])
    assert out is img and (np.abs(img.astype(int) - 60).max(axis=2) > 60).sum() > 300
    assert crop_face(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), face.box).shape[0] >= 120
    untouched = frame()
    assert draw_faces(untouched, []) is untouched and (untouched == 60).all()


def test_the_engagement_record_grows_with_seconds_not_frames():
    """A long stream keeps one timeline row per second and face and never a frame: 10 s processed at 200 fps holds
    what 10 s at 20 fps holds (the page polling the summary meanwhile), far less than one frame."""
    asizeof = pytest.importorskip("pympler.asizeof").asizeof
    box = (80, 60, 100, 100)
    img = frame(box, size=(240, 320))
    sizes = {}
    for fps in (20, 200):
        proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False), detector_factory=ScriptedDetector([[box]]),
                             clock=Clock(step=0.5 / fps))  # the clock ticks twice per frame
        for i in range(10 * fps):
            proc.process(img)
            if i % (3 * fps) == 0:
                proc.recorder.summary()  # as the page does every 3 s (it caches the finished seconds' rows)
        rec = proc.recorder
        assert rec.summary()["recorded_seconds"] == 10
        rows = rec.rows()
        assert [(r["second"], r["face"], r["present"]) for r in rows] == [(s, "Face 1", True) for s in range(10)]
        assert sum(r["frames"] for r in rows) == 10 * fps  # every frame counted, none kept
        sizes[fps] = asizeof(rec)
    assert sizes[200] <= 1.1 * sizes[20]
    assert sizes[200] < 40_000 < img.nbytes / 5  # bytes per second of a face: a few KB; one small frame: 230 KB


@pytest.fixture(scope="module")
def astronaut_frame():
    skdata = pytest.importorskip("skimage.data")
    img = np.full((480, 640, 3), 110, np.uint8)
    face = skdata.astronaut()[:300, 60:360, ::-1]  # the head and shoulders, BGR
    img[90:390, 170:470] = face
    return img


def test_real_pipeline_on_a_real_face(tiny_run, astronaut_frame):
    from fer_core.inference.classifier import load_classifier

    proc = LiveProcessor(load_classifier(tiny_run), LiveSettings(mirror=True))
    for _ in range(6):
        out = proc.process(astronaut_frame)
    snap = proc.snapshot()
    assert [f.name for f in snap.faces] == ["Face 1"]
    face = snap.main_face
    assert face.facing is True and abs(face.yaw) < 15 and face.emotion in EMOTIONS  # issue 26: head pose, not eyes
    x, y, w, h = face.box
    assert 170 < x + w / 2 < 470 and 90 < y + h / 2 < 390 and 60 < w < 250  # inside the pasted image
    assert face.engagement > 0  # facing the screen: gaze weight 5
    diff = np.abs(out.astype(int) - cv2.flip(astronaut_frame, 1).astype(int)).max(axis=2)
    assert (diff > 60).sum() > 300  # box and label drawn
    assert proc.recorder.summary()["faces"]["Face 1"]["seconds_present"] >= 0


def test_a_resolution_change_keeps_the_face_id():
    """Chromium lowers a stream's resolution under load: the same face keeps its track (no 'Face 2')."""
    big, small = (200, 100, 120, 120), (100, 50, 60, 60)
    proc, det = make([[big], [big], [small]], detect_every=5)
    proc.process(frame(big))
    proc.process(frame(big))
    assert [f.name for f in proc.snapshot().faces] == ["Face 1"]
    proc.process(frame(small, size=(240, 320)))  # half the resolution: detects again at once
    snap = proc.snapshot()
    assert len(det.calls) == 3
    assert [(f.name, f.box) for f in snap.faces] == [("Face 1", small)]


def test_a_4k_frame_is_downscaled_on_arrival_and_processed():
    """A browser that ignores the constraints and sends 3840x2160: processed as 640x360, the face found there."""
    big_box = (1800, 800, 480, 480)
    small_box = (300, 133, 80, 80)  # the same face at 640/3840
    proc, det = make([[small_box]])
    for _ in range(3):  # a track gets its id after a few detections
        out = proc.process(frame(big_box, size=(2160, 3840)))
    assert out.shape == (360, 640, 3)
    assert det.calls[0].shape[:2] == (360, 640)  # the detector searched the downscaled frame
    faces = proc.snapshot().faces
    assert [f.box for f in faces] == [small_box] and faces[0].emotion == "happy"  # the crop came from the face


def test_the_callback_downscales_a_4k_video_frame_while_converting_it():
    proc, det = make([[(300, 133, 80, 80)]])
    vf = av.VideoFrame.from_ndarray(frame((1800, 800, 480, 480), size=(2160, 3840)), format="bgr24")
    for _ in range(3):
        out = proc.callback(vf)
    assert (out.width, out.height) == (640, 360) and det.calls[0].shape[:2] == (360, 640)
    assert proc.snapshot().faces[0].emotion == "happy" and not proc.snapshot().error


def test_frames_within_the_limit_keep_their_size_and_odd_sizes_round_to_even():
    from fer_core.live.processor import fit_size

    assert fit_size(640, 480, 640) == (640, 480) and fit_size(480, 640, 640) == (480, 640)
    assert fit_size(3840, 2160, 640) == (640, 360) and fit_size(1080, 1920, 640) == (360, 640)
    assert fit_size(1001, 999, 640) == (640, 638)
    proc, det = make([[]], max_frame_side=320)
    assert proc.process(frame(size=(480, 640))).shape == (240, 320, 3)
    with pytest.raises(ValueError, match="max_frame_side"):
        LiveSettings(max_frame_side=10)


def test_without_annotation_nothing_is_drawn_and_the_callback_returns_the_frame_as_it_came():
    box = (200, 100, 120, 120)
    proc, _ = make([[box]], annotate=False)
    img = frame(box)
    for _ in range(3):
        np.testing.assert_array_equal(proc.process(img), img)  # no boxes drawn
    assert proc.snapshot().faces[0].emotion == "happy"  # still analysed and recorded
    vf = av.VideoFrame.from_ndarray(img, format="bgr24")
    assert proc.callback(vf) is vf
    assert len(proc.recorder.completed_seconds(-1, include_latest=True)[1]) >= 1


def test_the_first_sighting_of_a_face_counts_as_a_face_in_view_for_the_class():
    """The tracker names a face from its second sighting; the frame before is recorded as 'a face, not yet named',
    so a student's first shared second is not 'not in view' (the presence deficit bench_class showed)."""
    box = (200, 100, 120, 120)
    proc, _ = make([[box]])
    proc.process(frame(box))
    _, seconds = proc.recorder.completed_seconds(-1, include_latest=True)
    assert [(rows, unconfirmed) for _, _, rows, unconfirmed in seconds] == [([], 1)]
    proc.process(frame(box))
    _, seconds = proc.recorder.completed_seconds(-1, include_latest=True)
    assert seconds[-1][2][0]["present"] and seconds[-1][3] == 1  # the named face joins; the first frame stays counted


def test_live_yunet_searches_at_320_and_widens_while_no_face_or_a_small_face_is_tracked():
    from fer_core.live.processor import SMALL_FACE_PX, WIDE_EVERY

    assert LiveSettings().detector_params()["max_side"] == 320  # YuNet, the live default
    assert LiveSettings(detector="haar").detector_params()["max_side"] == 480 and LiveSettings(detector="haar").wide() is None
    widths = []

    class Factory(ScriptedDetector):
        def __call__(self, settings):
            detect = super().__call__(settings)
            return lambda img: widths.append(settings.detector_params()["max_side"]) or detect(img)

    big, small = (200, 100, 120, 120), (200, 100, SMALL_FACE_PX - 10, SMALL_FACE_PX - 10)
    det = Factory([[]] * 7 + [[big]] * 6 + [[small]] * 3)
    proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False, detect_every=1), detector_factory=det,
                         clock=Clock())
    for _ in range(7):  # nothing in view: one pass in WIDE_EVERY searches wide (the first one too)
        proc.process(frame())
    assert widths == [640 if k % WIDE_EVERY == 0 else 320 for k in range(7)]
    widths.clear()
    for _ in range(6):  # a face appears, is tracked, and is big enough for the narrow search
        proc.process(frame(big))
    assert widths[-3:] == [320, 320, 320]
    widths.clear()
    for _ in range(3):  # a small face: the wide search keeps it
        proc.process(frame(small))
    assert widths[1:] == [640, 640]
    assert len(det.built_with) == 2  # one narrow and one wide detector, built once each


def test_a_face_the_narrow_search_missed_is_looked_for_wide_and_new_faces_are_looked_for_now_and_then():
    from fer_core.live.processor import DISCOVER_EVERY

    widths = []

    class Factory(ScriptedDetector):
        def __call__(self, settings):
            detect = super().__call__(settings)
            return lambda img: widths.append(settings.detector_params()["max_side"]) or detect(img)

    big = (200, 100, 120, 120)
    script = [[big]] * 4 + [[]] + [[big]] * 20  # the 5th pass (narrow) misses the face
    proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False, detect_every=1),
                         detector_factory=Factory(script), clock=Clock())
    for _ in range(25):
        proc.process(frame(big))
    assert widths[:2] == [640, 640]  # nothing tracked, then a face seen once: wide until it is confirmed
    assert widths[4] == 320 and widths[5] == 640  # missed by the narrow search: the next pass searches wide
    narrow_run = widths[6:]
    assert 640 in narrow_run and narrow_run.count(640) <= len(narrow_run) // DISCOVER_EVERY + 1  # now and then only


class LandmarkDetector:
    """A detector factory whose detector gives YuNet-style detections: one face with the five landmarks of the
    generic head model turned by ``yaw`` degrees (``fer_core.inference.head_pose``), the nose and mouth pulled towards
    the middle as YuNet pulls them (the shipped correction undoes exactly that)."""

    def __init__(self, yaw: float):
        self.yaw = yaw

    def __call__(self, settings):
        from fer_core.inference import head_pose as hp
        from fer_core.inference.boxes import Detection

        rot = hp.rotation_from_angles(self.yaw, 0.0)
        pts = (hp.FACE_MODEL_MM - hp.HEAD_CENTRE_MM) @ rot.T + np.array(hp.HEAD_CENTRE_MM) + np.array([0, -10, 600])
        cam = hp.camera_matrix((640, 480))
        exact = pts[:, :2] * cam[0, 0] / pts[:, 2:3] + cam[:2, 2]
        lm = tuple(tuple(float(v) for v in p) for p in hp.correct_yunet_landmarks(exact, 1 / hp.YUNET_SIDEWAYS_GAIN))

        class Detector:
            color_input = True

            def detect_scored(self, image):
                return [Detection((250, 170, 140, 140), 0.9, lm)]

            def __call__(self, image):
                return [d.box for d in self.detect_scored(image)]
        return Detector()


@pytest.mark.parametrize("yaw, facing", [(0.0, True), (20.0, True), (50.0, False), (-50.0, False)])
def test_head_pose_from_landmarks_is_the_attention_signal(yaw, facing):
    """Issue 26: the gaze term comes from the head pose (YuNet's five landmarks), not from Haar eye cascades: a head
    turned past 30 degrees is "not facing the screen", recorded per second apart from presence and the expression."""
    proc = LiveProcessor(FakeClassifier(), LiveSettings(mirror=False, detect_every=1),
                         detector_factory=LandmarkDetector(yaw), clock=Clock(), warm_up=False)
    for _ in range(30):
        proc.process(frame((250, 170, 140, 140)))
    face = proc.snapshot().main_face
    assert face.facing is facing and face.eyes is None and abs(abs(face.yaw) - abs(yaw)) < 10
    row = proc.recorder.rows()[0]
    assert row["present"] is True and row["facing"] is facing and row["facing_share"] == float(facing)
    assert row["dominant_emotion"] == "happy"  # the expression, recorded on its own
