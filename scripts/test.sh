#!/usr/bin/env bash
# Install the app and test dependencies, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements-dev.txt
python -m pytest -q "$@"
