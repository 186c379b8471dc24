#!/usr/bin/env bash
# Train several runs at once on an accelerator machine that has JAX but no TensorFlow (e.g. the lent H200), each a
# separate process sharing the GPU, each fitting its cosine schedule into BUDGET seconds (--time-budget).
# Carry .whl (keras, namex, optree wheels) and the packed data (python -c "from fer_core.training.data import
# pack_fer2013; pack_fer2013(CSV, '.device_data/fer2013.fer.npz')"). Every POLL seconds (30), and at the end, each run
# folder (without its checkpoint) is tarred into $OUT, so a run cut off by the command's time limit still comes back
# with its best model.
# Back on a TensorFlow machine: untar into models/runs and `python -m fer_core.finish_run models/runs/RUN --data CSV`.
# Usage: OUT=... BUDGET=420 bash scripts/train_accelerator.sh "NAME ARGS..." ["NAME ARGS..." ...]
# Exits 1 when any run's training exited non-zero (the end of its log is printed), so a failed call says so.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: OUT=... BUDGET=420 bash scripts/train_accelerator.sh \"NAME ARGS...\" [...]. Received: no run" >&2; exit 2; }
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/accel_out}
DATA=${DATA:-.device_data/fer2013.fer.npz}
BUDGET=${BUDGET:-420}
PY=${PY:-python3}
RUNS=${RUNS:-/tmp/accel_runs}
POLL=${POLL:-30}
mkdir -p "$OUT" "$RUNS"
if [ -d .whl ] && ! "$PY" -c "import keras" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}" KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.25}
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true) | tee "$OUT/device.txt"
"$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)" 2>&1 | tee -a "$OUT/device.txt"

names=()
pids=()
for spec in "$@"; do
  read -r name args <<<"$spec"
  names+=("$name")
  # shellcheck disable=SC2086
  "$PY" -m fer_core.train --backend "$KERAS_BACKEND" --data "$DATA" --out "$RUNS/$name" --time-budget "$BUDGET" $args \
    >"$RUNS/$name.log" 2>&1 &
  pids+=("$!")
done

snapshot() {
  for name in "${names[@]}"; do
    [ -d "$RUNS/$name" ] || continue
    cp "$RUNS/$name.log" "$RUNS/$name/train.log" 2>/dev/null
    tar -cf "$OUT/$name.tar.tmp" -C "$RUNS" --exclude checkpoint.npz --exclude '*.tmp*' "$name" && mv "$OUT/$name.tar.tmp" "$OUT/$name.tar"
  done
}
while [ -n "$(jobs -rp)" ]; do
  sleep "$POLL"
  snapshot
  for name in "${names[@]}"; do tail -n 1 "$RUNS/$name/history.csv" 2>/dev/null | sed "s/^/$name: /"; done
done
snapshot
failed=0
for i in "${!names[@]}"; do
  wait "${pids[$i]}"
  rc=$?
  echo "== ${names[$i]} (exit $rc)"
  grep -vi warning "$RUNS/${names[$i]}.log" | tail -n 5
  [ "$rc" -eq 0 ] || failed=1
done
exit "$failed"
