#!/usr/bin/env bash
# Runs benchmarks/training_throughput.py under each Keras backend in turn (one
# process per backend: Keras reads KERAS_BACKEND once). Tables go to stdout,
# progress to stderr.
#
# Usage: benchmarks/run_all.sh [--quick] > results.md
set -uo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
status=0
for backend in tensorflow jax torch; do
  if ! KERAS_BACKEND="$backend" "$python" benchmarks/training_throughput.py "$@"; then
    echo "training_throughput.py failed on the $backend backend" >&2
    status=1
  fi
  echo
done
exit "$status"
