"""Every st.session_state key the app uses, named in one place."""

MODEL_CHOICE = "model_choice"  # run folder (str) of the model the user picked; None = shipped default

# Training Runs page (pages/3_Training_runs.py); per-run keys are f"{PREFIX}:{run folder}"
RUNS_EXTRA_DIRS = "runs_extra_dirs"  # sidebar text: extra folders of run folders (os.pathsep-separated)
RUNS_PICKED = "runs_picked"  # run folders (str) picked for curves and comparison
RUNS_NORMALISE = "runs_normalise"  # confusion matrices as row-normalised shares instead of counts
RUNS_EVAL_CHOICE = "runs_eval_choice"  # prefix: which evaluation of a run is shown
RUNS_EVAL_UPLOAD = "runs_eval_upload"  # prefix: uploaded evaluation dataset (CSV or zip)
RUNS_EVAL_USAGE = "runs_eval_usage"  # prefix: FER2013 Usage rows to evaluate on
RUNS_EVAL_TTA = "runs_eval_tta"  # prefix: also report flip test-time augmentation
RUNS_EVAL_START = "runs_eval_start"  # prefix: the Evaluate button
RUNS_EVAL_DONE = "runs_eval_done"  # {run folder: evaluation folder name} just written, shown and pre-selected once
RUNS_DOWNLOAD = "runs_download"  # prefix: download buttons of a run's files
RUNS_CHART = "runs_chart"  # prefix: chart and table element keys (figures of the same shape must not collide)

# Webcam page (pages/2_Webcam.py)
WEBCAM_STREAM = "webcam_stream"  # the webrtc_streamer component
WEBCAM_PROCESSOR = "webcam_processor"  # fer_core.live.LiveProcessor of this browser session (tracks + engagement record)
WEBCAM_SENSITIVITY = "webcam_sensitivity"  # sidebar: face detector sensitivity, 0..1
WEBCAM_SMOOTHING = "webcam_smoothing"  # sidebar: EMA strength of the per-face probabilities
WEBCAM_DETECT_EVERY = "webcam_detect_every"  # sidebar: run face detection every k-th processed frame
WEBCAM_MIRROR = "webcam_mirror"  # sidebar: mirror (selfie) view
WEBCAM_RESET = "webcam_reset"  # the engagement monitor's Reset button
WEBCAM_DOWNLOAD = "webcam_download"  # prefix of the CSV/JSON download buttons
