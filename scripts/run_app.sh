#!/usr/bin/env bash
# Install the app's dependencies and start it (the shipped model works out of the box).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt
exec streamlit run streamlit_app.py "$@"
