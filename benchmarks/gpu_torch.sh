#!/usr/bin/env bash
# The PyTorch backend on a GPU, as one command: the compiled search step
# against Marian, then training throughput at the paper's base dimensions in
# bfloat16 (ours compiled, torch.nn.Transformer eager and torch.compile'd),
# each system's steps profiled. On one H200 (2026-11-30) the training part
# took about 5.5 minutes, 3.5 of them compiling ours.
# Tables go to standard output and to $OUT (default: gpu-results/).
#
# Runs where keras and keras-hub import without TensorFlow. On an image
# without them, put their wheels (keras, keras-hub, namex, optree,
# kagglehub, kagglesdk) in .whl/ first; they are installed to /tmp/site.
# SOURCE_IDS: tokenized decoding sources, e.g. the test_sources.npz that
# `benchmarks/train_from_arrays.py prepare multi30k --out DIR` writes.
#
#   SOURCE_IDS=runs/arrays/test_sources.npz bash benchmarks/gpu_torch.sh
set -o pipefail
OUT=${OUT:-gpu-results}
mkdir -p "$OUT"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PYTHONPATH
fi
export PYTHONPATH=$PWD:$PYTHONPATH PYTHONUNBUFFERED=1 KERAS_BACKEND=torch
export TORCH_LOGS=${TORCH_LOGS-graph_breaks}  # a break in a compiled step shows here
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
if [ -n "$SOURCE_IDS" ]; then
  timeout "${DECODE_S:-300}" python3 benchmarks/decoding_throughput.py \
    --source-ids "$SOURCE_IDS" --sentences 256 --baseline-sentences 128 \
    --lengths 32 --repeats 3 --torch-compile 2>&1 | tee "$OUT/decoding.md"
fi
timeout "${TRAIN_S:-360}" python3 benchmarks/training_throughput.py --preset base \
  --precision bfloat16 --systems ours,torch,torch_compiled --dropouts 0.1 \
  --no-attention --profile 2>&1 | tee "$OUT/training.md"
