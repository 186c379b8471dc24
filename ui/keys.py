"""Every st.session_state key the app uses, named in one place."""

MODEL_CHOICE = "model_choice"  # run folder (str) of the model the user picked; None = shipped default
MODEL_PICKER = "model_picker"  # the sidebar model select box (ui/model_picker.py); its value is copied to MODEL_CHOICE

# Upload Photo page (pages/1_Upload_photo.py); per-file keys are f"{PREFIX}:{file id}"
PHOTO_UPLOADS = "photo_uploads"  # the file uploader (several images)
PHOTO_MIN_NEIGHBORS = "photo_min_neighbors"  # sidebar: detector strictness (FaceDetector.min_neighbors)
PHOTO_SCALE_FACTOR = "photo_scale_factor"  # sidebar: detector pyramid step (FaceDetector.scale_factor)
PHOTO_MIN_SIZE = "photo_min_size"  # sidebar: smallest face in pixels (FaceDetector.min_size)
PHOTO_VERIFY = "photo_verify"  # sidebar: re-check faces with a second cascade (FaceDetector.verify_neighbors)
PHOTO_DETECTOR = "photo_detector"  # sidebar: face detector name (ui/detector_picker.py)
PHOTO_MIN_SCORE = "photo_min_score"  # sidebar: YuNet's least face score (YuNetDetector.score_threshold)
PHOTO_RESULTS = "photo_results"  # {(content digest, settings, model): PhotoAnalysis} of this session's uploads
PHOTO_WHOLE_IMAGE = "photo_whole_image"  # prefix: "treat the whole image as one face" checkbox of a file
PHOTO_FACE = "photo_face"  # prefix: which face's chart is shown when a photo has many faces
PHOTO_DOWNLOAD = "photo_download"  # prefix: JSON / CSV / PNG download buttons of a file
PHOTO_CHART = "photo_chart"  # prefix: Plotly chart keys of a file

# Training Runs page (pages/3_Training_runs.py); per-run keys are f"{PREFIX}:{run folder}"
RUNS_EXTRA_DIRS = "runs_extra_dirs"  # sidebar text: extra folders of run folders (os.pathsep-separated)
RUNS_PICKED = "runs_picked"  # run folders (str) picked for curves and comparison
RUNS_NORMALISE = "runs_normalise"  # confusion matrices as row-normalised shares instead of counts
RUNS_EVAL_CHOICE = "runs_eval_choice"  # prefix: which evaluation of a run is shown
RUNS_EVAL_UPLOAD = "runs_eval_upload"  # prefix: uploaded evaluation dataset (CSV or zip)
RUNS_EVAL_USAGE = "runs_eval_usage"  # prefix: FER2013 Usage rows to evaluate on
RUNS_EVAL_TTA = "runs_eval_tta"  # prefix: test-time augmentation to report too (none/flip/crops)
RUNS_EVAL_START = "runs_eval_start"  # prefix: the Evaluate button
RUNS_EVAL_DONE = "runs_eval_done"  # {run folder: evaluation folder name} just written, shown and pre-selected once
RUNS_DOWNLOAD = "runs_download"  # prefix: download buttons of a run's files
RUNS_CHART = "runs_chart"  # prefix: chart and table element keys (figures of the same shape must not collide)

# Webcam page (pages/2_Webcam.py)
WEBCAM_STREAM = "webcam_stream"  # the webrtc_streamer component
WEBCAM_PROCESSOR = "webcam_processor"  # fer_core.live.processor.LiveProcessor of this browser session (tracks + engagement record)
WEBCAM_SENSITIVITY = "webcam_sensitivity"  # sidebar: face detector sensitivity, 0..1
WEBCAM_DETECTOR = "webcam_detector"  # sidebar: face detector name (ui/detector_picker.py)
WEBCAM_SMOOTHING = "webcam_smoothing"  # sidebar: EMA strength of the per-face probabilities
WEBCAM_DETECT_EVERY = "webcam_detect_every"  # sidebar: run face detection every k-th processed frame
WEBCAM_MIRROR = "webcam_mirror"  # sidebar: mirror (selfie) view
WEBCAM_CLASS_PREVIEW = "webcam_class_preview"  # class mode: also send the annotated video back (off: SENDONLY)
WEBCAM_RESET = "webcam_reset"  # the engagement monitor's Reset button
WEBCAM_DOWNLOAD = "webcam_download"  # prefix of the CSV/JSON download buttons

# Video Analysis page (pages/4_Video_analysis.py)
VIDEO_UPLOAD = "video_upload"  # the uploaded video file
VIDEO_EVERY = "video_every"  # sidebar: analyse every k-th frame
VIDEO_SENSITIVITY = "video_sensitivity"  # sidebar: face detector sensitivity, 0..1
VIDEO_DETECTOR = "video_detector"  # sidebar: face detector name (ui/detector_picker.py)
VIDEO_SMOOTHING = "video_smoothing"  # sidebar: EMA strength of the per-face probabilities
VIDEO_DETECT_EVERY = "video_detect_every"  # sidebar: face detection every k-th analysed frame
VIDEO_CLIP_MODEL = "video_clip_model"  # sidebar: run folder (str) of the clip model, or None
VIDEO_CLIP_EVERY = "video_clip_every"  # sidebar: classify each face's clip window every k-th analysed frame
VIDEO_START = "video_start"  # the Analyse button
VIDEO_STOP = "video_stop"  # the Stop button
VIDEO_JOB = "video_job"  # fer_core.live.video.VideoAnalysis running (kept so a stopped run still yields its partial result)
VIDEO_RESULT = "video_result"  # {"name": file name, "result": fer_core.live.video.VideoResult} of the latest analysis
VIDEO_FACE = "video_face"  # which face's emotion timeline is shown
VIDEO_DOWNLOAD = "video_download"  # prefix of the download buttons

# Class sessions: the join form on the Webcam page (ui/class_join.py) and the teacher's dashboard
# (pages/5_Class_dashboard.py, ui/class_dashboard.py)
CLASS_SHARE = "class_share"  # fer_core.classroom.share.ClassShare of this browser session (a student sharing), if joined
CLASS_JOIN_FORM = "class_join_form"  # the join form
CLASS_JOIN_CODE = "class_join_code"  # join form: the code the teacher shows
CLASS_JOIN_NAME = "class_join_name"  # join form: display name
CLASS_JOIN_ANONYMOUS = "class_join_anonymous"  # join form: stay anonymous
CLASS_JOIN_CONSENT = "class_join_consent"  # join form: explicit consent to share the aggregates
CLASS_LEAVE = "class_leave"  # Leave class button (also clears an ended share)
CLASS_TEACHER_SESSION = "class_teacher_session"  # id of the class session this browser opened as its teacher
CLASS_NEW_TOKEN = "class_new_token"  # teacher token of the session just created: shown until dismissed, then gone
CLASS_TOKEN_SAVED = "class_token_saved"  # "I have saved the token" button
CLASS_CREATE_FORM = "class_create_form"  # create-session form
CLASS_TITLE = "class_title"  # create form: lesson title
CLASS_JOIN_HOURS = "class_join_hours"  # create form: how long students can join
CLASS_OPEN_FORM = "class_open_form"  # reopen form (after a reload or from another browser)
CLASS_TOKEN_INPUT = "class_token_input"  # reopen form: the teacher token
CLASS_TIMELINE = "class_timeline"  # fer_core.classroom.summary.LiveTimeline of the open session (incremental reads)
CLASS_DISENGAGED_S = "class_disengaged_s"  # sidebar: list students disengaged for longer than this (s)
CLASS_END = "class_end"  # End lesson button
CLASS_CLOSE = "class_close"  # Close dashboard button (forgets the session in this browser; the data stays)
CLASS_DOWNLOAD = "class_download"  # prefix of the summary download buttons
CLASS_CHART = "class_chart"  # prefix of the dashboard's chart and table element keys
CLASS_TEACHER_SECRET = "class_teacher_secret"  # this browser's opaque teacher secret (its cookie's value), to revoke on Close
CLASS_SET_COOKIE = "class_set_cookie"  # a teacher secret to write into this browser's cookie on the next run
CLASS_CLEAR_COOKIE = "class_clear_cookie"  # clear this browser's teacher cookie on the next run (after Close)
