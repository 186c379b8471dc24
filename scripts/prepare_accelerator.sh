#!/usr/bin/env bash
# Gets the working tree ready for one accelerator `run` call (README: "The next accelerator run, prepared"), and back.
#   bash scripts/prepare_accelerator.sh pack FER2013_CSV FERPLUS_ALIGNED_CSV
#       .device_data/: FER2013's Training and PublicTest packed (fer2013.fer.npz) and the FER+ votes in the CSV's row
#       order (from `python -m fer_core.ferplus --images ... --out ...`); .whl/: the Keras, namex and optree wheels for
#       the machine's Python 3.12. Both are git-ignored (.git/info/exclude). It prints what the call will carry. A
#       packed file or a Keras wheel already there is kept (delete it to redo that step).
#   bash scripts/prepare_accelerator.sh aside   # models/ (187 MB, over the 64 MiB a call takes) out of index and tree
#   bash scripts/prepare_accelerator.sh back    # models/ back, right after the call
# The call: carry [".device_data", ".whl"], then scripts/train_accelerator.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
ASIDE=${ASIDE:-../models_aside}
LIMIT=$((64 * 1024 * 1024))
WHEELS=${WHEELS:-"keras==3.15.1 namex optree"}

usage() { echo "usage: bash scripts/prepare_accelerator.sh pack FER2013_CSV FERPLUS_ALIGNED_CSV | aside | back. Received: $*" >&2; exit 2; }

case "${1:-}" in
  pack)
    [ $# -eq 3 ] || usage "$@"
    [ -f "$2" ] || { echo "expected the FER2013 CSV at $2" >&2; exit 2; }
    [ -f "$3" ] || { echo "expected the aligned FER+ votes at $3" >&2; exit 2; }
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p .device_data .whl "$(dirname "$exclude")"
    for p in .device_data/ .whl/; do grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >>"$exclude"; done
    [ -f .device_data/fer2013.fer.npz ] ||
      "$PY" -c "import sys; from fer_core.training.data import pack_fer2013; pack_fer2013(sys.argv[1], '.device_data/fer2013.fer.npz')" "$2"
    cp "$3" .device_data/ferplus_aligned.csv
    if ! ls .whl/keras-*.whl >/dev/null 2>&1; then
      # shellcheck disable=SC2086
      "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
        -d .whl $WHEELS
    fi
    tracked=$(git ls-files -z | grep -zv '^models/' | xargs -0 -r du -cb 2>/dev/null | tail -n 1 | cut -f1)
    extra=$(du -cb .device_data .whl | tail -n 1 | cut -f1)
    total=$((tracked + extra))
    echo "the call carries $((total / 1000000)) MB: code $((tracked / 1000000)) MB, .device_data and .whl $((extra / 1000000)) MB (limit $((LIMIT / 1048576)) MiB), once models/ is aside"
    [ "$total" -le "$LIMIT" ] || { echo "over the limit: $total bytes" >&2; exit 1; }
    ;;
  aside)
    [ ! -e "$ASIDE" ] || { echo "expected no $ASIDE (models/ already aside?). Received: it exists" >&2; exit 1; }
    git rm -r -q --cached models
    mv models "$ASIDE"
    echo "models/ is in $ASIDE and out of the index; run 'bash scripts/prepare_accelerator.sh back' after the call"
    ;;
  back)
    [ -d "$ASIDE" ] || { echo "expected models/ aside in $ASIDE. Received: no such folder" >&2; exit 1; }
    [ ! -e models ] || { echo "expected no models/ in the tree. Received: it exists" >&2; exit 1; }
    mv "$ASIDE" models
    git reset -q models
    echo "models/ is back"
    ;;
  *) usage "$@" ;;
esac
