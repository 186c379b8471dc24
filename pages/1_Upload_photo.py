"""Upload Photo: every face in one or several photos, boxed and labelled, with probabilities and downloads."""
import streamlit as st

from ui import detector_picker, keys, model_picker, photo as photo_ui
from ui.page_header import classifier_or_stop, page_header

page_header("Upload photo", ":material/photo_camera:", "Upload a photo",
            "Drop one or several photos: a selfie, a portrait, a group photo or a screenshot of a video-call gallery. "
            "Every face is boxed and labelled with its emotion.", photo_ui.PRIVACY_NOTE)

with st.sidebar:
    run_path = model_picker.model_picker()
    detector = photo_ui.detector_sidebar(detector_picker.detector_picker(keys.PHOTO_DETECTOR))

classifier = classifier_or_stop(run_path, "photos")

files = st.file_uploader("Photos", type=photo_ui.IMAGE_TYPES, accept_multiple_files=True, key=keys.PHOTO_UPLOADS,
                         help="JPEG, PNG, WebP, BMP, GIF or TIFF; several at once.")
photo_ui.forget_other_files({photo_ui.file_key(f.name, f.getvalue()) for f in files or []})
if not files:
    st.markdown("No photo yet: drop one above. Tip: for a whole class, upload a screenshot of the video-call gallery "
                "and lower the minimum face size in the sidebar if small faces are missed.")
for f in files or []:
    photo_ui.show_upload(f.name, f.getvalue(), classifier, detector)
