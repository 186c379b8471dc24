#!/usr/bin/env bash
# Every measurement the README reports for a finished training run, in one go: ONNX + int8 export and test metrics
# (finish_run), the real-photo path, CK+48 posed faces, every ensemble mix with the shipped nets, and the run as a
# member of a cascade within the speed bar. Selection stays on the holdout; each script prints which split is which.
# Usage: bash scripts/evaluate_run.sh models/runs/RUN PHOTOS_DIR   (PHOTOS_DIR: built by benchmarks/realphoto_set.py)
# The cascade step times each member on this CPU: pause any training first (kill -STOP), or its ms are not comparable.
# Env: FER2013_CSV, CKPLUS (dataset paths), EXTRA_RUNS (shipped nets outside the default to mix in), PY, LOG.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -ne 2 ]; then
    echo "usage: bash scripts/evaluate_run.sh models/runs/RUN PHOTOS_DIR. Received: $# arguments" >&2
    exit 2
fi
RUN=${1%/}
PHOTOS=${2%/}
FER=${FER2013_CSV:-../shared/data/fer2013/fer2013.csv.gz}
CK=${CKPLUS:-../shared/data/CK+48}
PY=${PY:-python}
LOG=${LOG:-logs/evaluate_$(basename "$RUN").log}
for path in "$RUN/model.keras" "$FER" "$CK"; do
    [ -e "$path" ] || { echo "evaluate_run: expected $path to exist. Received: RUN=$RUN" >&2; exit 2; }
done
shopt -s nullglob
photo_dirs=()
for d in "$PHOTOS"/*/; do photo_dirs+=("${d%/}"); done
[ "${#photo_dirs[@]}" -gt 0 ] || { echo "evaluate_run: no photo folders under $PHOTOS" >&2; exit 2; }
mkdir -p "$(dirname "$LOG")"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
# The shipped default (models/default.json) and its members, so the comparisons follow the default when it changes.
default_line=$("$PY" -c 'from fer_core.runs import CONFIG, default_run_dir, ensemble_members, is_ensemble, read_json
r = default_run_dir(); c = read_json(r / CONFIG); print(r, *(ensemble_members(r, c) if is_ensemble(c) else [r]))')
read -r -a default_and_members <<< "$default_line"
DEFAULT=${default_and_members[0]}
members=("${default_and_members[@]:1}")
baseline=$(printf '%s\n' "${members[@]##*/}" | paste -sd+)
read -r -a extra <<< "${EXTRA_RUNS:-models/runs/cpu_wide_camfp2}"
{
    echo "== finish_run $RUN"
    "$PY" -m fer_core.finish_run "$RUN" --data "$FER"
    echo "== real photos, the app's photo path: $RUN against the shipped default"
    "$PY" benchmarks/bench_photo_pipeline.py --data "${photo_dirs[@]}" --models "$RUN" "$DEFAULT" \
        --variants "app default" "TTA flip"
    echo "== CK+48 posed faces and PublicTest (tau 0: the probabilities as shipped)"
    "$PY" benchmarks/bench_prior_shift.py --fer "$FER" --folder "$CK" --model "$RUN" --tau 0
    echo "== every mix of up to four nets, picked on the holdout, against the default's members"
    "$PY" benchmarks/bench_ensemble_mixes.py --fer "$FER" --runs "${members[@]}" "${extra[@]}" "$RUN" \
        --photos "${photo_dirs[@]}" --max-members 4 --baseline "$baseline"
    echo "== the run in place of the default cascade's last member, and beside it as one more"
    "$PY" benchmarks/bench_cascade.py --fer "$FER" --members "${members[@]:0:${#members[@]}-1}" "$RUN" \
        --photos "${photo_dirs[@]}"
    "$PY" benchmarks/bench_cascade.py --fer "$FER" --members "${members[@]}" "$RUN" --photos "${photo_dirs[@]}"
} 2>&1 | tee "$LOG"
echo "report: $LOG"
