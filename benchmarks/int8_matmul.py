"""int8 matrix products: the backend's, as Keras' int8 layers multiply,
against oneDNN's on the same cores.

Keras' int8 `Dense` and `Embedding` quantize their inputs to int8 and
multiply them by the int8 kernel with `keras.ops.matmul` (int32 out), so a
quantized search is only as fast as the backend's int8 product. This times that
product at the shapes of a beam-4 search step over 32 sentences (128 rows)
and of the encoder over 32 sources of 24 tokens (768 rows), at the
dimensions of `decoding_throughput.py` (d_model 256, d_ff 1024, 8,000-piece
vocabulary), next to:

- the backend's float32 product of the same shapes;
- `torch._int_mm` on the CPU (PyTorch's oneDNN int8 kernel), where PyTorch
  is installed: CTranslate2's int8 products on a CPU go through oneDNN as
  well (`CT2_VERBOSE=1` prints its `GEMM_S8 backend`).

Each product is compiled as the search compiles its step (`jax.jit`;
`tf.function(jit_compile=True)`; eager on PyTorch) and timed as the
minimum over `--repeats` runs of `--calls` calls. Run once per backend:

    KERAS_BACKEND=jax python benchmarks/int8_matmul.py
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

# (rows, inputs, outputs) of the products, and what each is.
SHAPES = (
    (128, 256, 8000, "search step: projection onto the vocabulary"),
    (128, 256, 1024, "search step: feed-forward, first"),
    (128, 1024, 256, "search step: feed-forward, second"),
    (128, 256, 256, "search step: an attention projection"),
    (768, 256, 1024, "encoder: feed-forward, first"),
    (768, 1024, 256, "encoder: feed-forward, second"),
)


def _compiled(function):
    """`function` compiled as a search step is on the backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(function)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    return function


def _seconds(function, inputs, calls, repeats):
    """Least seconds a call of `function(*inputs)` took, over `repeats`
    runs of `calls` calls (after one call, which compiles)."""
    ops.convert_to_numpy(function(*inputs))
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            result = function(*inputs)
        ops.convert_to_numpy(result)  # waits for the last (asynchronous) call
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def _onednn_seconds(left, right, calls, repeats):
    """`torch._int_mm`'s seconds on the CPU, or None without PyTorch or
    where its build has no CPU int8 product."""
    try:
        import torch
    except ImportError:
        return None
    left, right = torch.from_numpy(left), torch.from_numpy(right)
    try:
        return _seconds(
            lambda a, b: torch._int_mm(a, b).numpy(), (left, right), calls, repeats
        )
    except RuntimeError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.calls < 1 or args.repeats < 1:
        parser.error("--calls and --repeats must be at least 1")  # exits 2
    backend = keras.backend.backend()
    product = _compiled(ops.matmul)
    random = np.random.default_rng(0)
    print(
        f"backend {backend}; GOP/s (2 × rows × inputs × outputs per second), "
        f"the least time of {args.repeats} runs of {args.calls} calls\n"
    )
    print(
        f"| rows × inputs × outputs | product | {backend} float32 | {backend} "
        "int8 | oneDNN int8 (torch._int_mm) | int8 / float32 | int8 / oneDNN |"
    )
    print("|---|---|--:|--:|--:|--:|--:|", flush=True)
    for rows, inputs, outputs, what in SHAPES:
        left = random.integers(-127, 128, (rows, inputs)).astype("int8")
        right = random.integers(-127, 128, (inputs, outputs)).astype("int8")
        operations = 2 * rows * inputs * outputs / 1e9
        int8 = _seconds(
            product,
            (ops.convert_to_tensor(left), ops.convert_to_tensor(right)),
            args.calls,
            args.repeats,
        )
        float32 = _seconds(
            product,
            (
                ops.convert_to_tensor(left.astype("float32")),
                ops.convert_to_tensor(right.astype("float32")),
            ),
            args.calls,
            args.repeats,
        )
        onednn = _onednn_seconds(left, right, args.calls, args.repeats)
        onednn_rate, int8_of_onednn = "-", "-"
        if onednn is not None:
            onednn_rate = f"{operations / onednn:.0f}"
            int8_of_onednn = f"{onednn / int8:.2f}x"
        print(
            f"| {rows} × {inputs} × {outputs} | {what} | "
            f"{operations / float32:.0f} | {operations / int8:.0f} | "
            f"{onednn_rate} | {float32 / int8:.2f}x | {int8_of_onednn} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
