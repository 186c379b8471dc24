"""UI helpers for the Streamlit pages (the only place besides pages/ that imports streamlit)."""
