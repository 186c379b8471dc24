"""Upload Photo: every face in one or several photos, boxed and labelled, with probabilities and downloads."""
import streamlit as st

from fer_core.classifier import ModelLoadError
from fer_core.runs import RunError
from sample_utils import keys, model_picker, photo_ui
from sample_utils.model_cache import cached_classifier

st.set_page_config(page_title="Upload photo", page_icon=":material/photo_camera:", layout="wide")
st.title("Upload a photo")
st.caption("Drop one or several photos: a selfie, a portrait, a group photo or a screenshot of a video-call gallery. "
           "Every face is boxed and labelled with its emotion.")
st.info(photo_ui.PRIVACY_NOTE, icon=":material/lock:")

with st.sidebar:
    run_path = model_picker.model_picker()
    detector = photo_ui.detector_sidebar()

try:
    classifier = cached_classifier(run_path)
except (ModelLoadError, RunError) as e:
    st.error(f"The emotion model could not be loaded, so photos cannot be analysed: {e}")
    st.stop()

files = st.file_uploader("Photos", type=photo_ui.IMAGE_TYPES, accept_multiple_files=True, key=keys.PHOTO_UPLOADS,
                         help="JPEG, PNG, WebP, BMP, GIF or TIFF; several at once.")
photo_ui.forget_other_files({photo_ui.file_key(f.name, f.getvalue()) for f in files or []})
if not files:
    st.markdown("No photo yet: drop one above. Tip: for a whole class, upload a screenshot of the video-call gallery "
                "and lower the minimum face size in the sidebar if small faces are missed.")
for f in files or []:
    photo_ui.show_upload(f.name, f.getvalue(), classifier, detector)
