"""Training throughput of `keras_transformer` against keras-hub and torch.

For the current Keras backend (`KERAS_BACKEND`), prints markdown tables of
1. training throughput (target tokens/s) and peak memory of ours, of the same
   architecture built from `keras_hub.layers`, and (torch backend) of
   `torch.nn.Transformer`: same dimensions, batches, optimizer and loss. Each
   model trains in its own subprocess; they take turns at short timed rounds;
2. forward+backward time of our `MultiHeadAttention` and of
   `keras.layers.MultiHeadAttention`.

Usage: KERAS_BACKEND=jax python benchmarks/training_throughput.py [--quick|--tiny]

On a GPU, the paper's dimensions in bfloat16, against a `torch.compile`d
torch.nn.Transformer (torch backend), with model FLOPs utilization:

    KERAS_BACKEND=torch python benchmarks/training_throughput.py \
        --preset base --precision bfloat16 --batch 192 --length 64 \
        --systems ours,torch,torch_compiled --no-attention
"""

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

DEFAULT = {
    "vocab": 8000, "hidden": 256, "layers": 3, "heads": 4, "ff": 1024,
    "batch": 32, "src_len": 32, "tgt_len": 32, "min_len": 16,
    "warmup": 3, "steps": 2, "rounds": 15, "attn_iters": 20,
}  # fmt: skip
QUICK = {
    **DEFAULT, "vocab": 2000, "hidden": 128, "layers": 2, "ff": 512,
    "warmup": 2, "steps": 2, "rounds": 8, "attn_iters": 10,
}  # fmt: skip
# A smoke test: checks that the script runs; its figures mean nothing.
TINY = {
    **QUICK, "vocab": 64, "hidden": 16, "layers": 1, "heads": 2, "ff": 32,
    "batch": 2, "src_len": 8, "tgt_len": 8, "min_len": 4,
    "warmup": 1, "steps": 1, "rounds": 2, "attn_iters": 2,
}  # fmt: skip
# The paper's models (Table 3) with a shared 32,000-piece vocabulary; the
# batch and lengths come from --batch and --length (lengths in [length/2,
# length]).
PRESETS = {
    "base": {"vocab": 32000, "hidden": 512, "layers": 6, "heads": 8, "ff": 2048},
    "big": {"vocab": 32000, "hidden": 1024, "layers": 6, "heads": 16, "ff": 4096},
}
GPU_DEFAULT = {
    **DEFAULT, **PRESETS["base"], "batch": 192, "src_len": 64, "tgt_len": 64,
    "min_len": 32, "warmup": 3, "steps": 3, "rounds": 4,
}  # fmt: skip
# Dense bfloat16 peak of a GPU, TFLOP/s, by a word of its name (for MFU).
PEAK_BF16_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L4": 121.0}
ATTENTION_SHAPE, ATTENTION_HEADS = (32, 64, 256), 4  # (batch, length, width)
DROPOUTS = (0.0, 0.1)
SYSTEMS = {
    "ours": "ours (keras_transformer)",
    "kerashub": "keras-hub layers",
    "torch": "torch.nn.Transformer",
    "torch_compiled": "torch.nn.Transformer + torch.compile",
}

NOTES = """
- target tok/s: non-padding label tokens per step / median step time; a step
  is `train_on_batch` (on the torch backend `model.train_function`, the call
  `fit` makes per step), or forward, backward and Adam for torch. ms/step:
  median [interquartile range] over rounds of {steps} steps that the systems
  take in turn. ours / system > 1: ours is faster; (min):
  the same ratio from the fastest steps, less sensitive to other processes.
- Memory: {memory}, each system in its own process.
- All systems: same dimensions, batches, Adam(1e-4), tied embeddings, and
  cross-entropy from logits without the padding (Keras: sample_weight 0 at
  padding, as in keras_transformer's demo; torch: ignore_index=0).
- jit_compile=True for both Keras models on TensorFlow (XLA), for a fair
  comparison; "auto" on JAX (jit) and torch (eager). warm-up s: the first
  {warmup} steps, compilation included, not timed.
- dropout 0.1: ours drops embeddings and sub-layer outputs (the paper; no
  attention dropout, so attention stays fused). keras-hub's `dropout` also
  drops attention weights, which takes its attention off the fused path.
  torch.nn.Transformer's also drops attention weights and feed-forward
  activations; it also has a final LayerNorm per stack (more parameters)."""


# === Data and measurement ===


def make_batches(cfg, count, seed=0):
    """(source, decoder input, labels): random ids, lengths in [min_len, len]."""
    rng = np.random.default_rng(seed)

    def padded(length):
        shape = (count, cfg["batch"], length)
        tokens = rng.integers(3, cfg["vocab"], shape, dtype="int32")
        lengths = rng.integers(cfg["min_len"], length + 1, shape[:2] + (1,))
        return np.where(np.arange(length) < lengths, tokens, 0)  # 0: padding

    source, labels = padded(cfg["src_len"]), padded(cfg["tgt_len"])
    start = np.ones_like(labels[..., :1])  # 1: the start token
    decoder_in = np.concatenate([start, labels[..., :-1]], -1) * (labels != 0)
    return list(zip(source, decoder_in, labels, strict=True))


def rss_mib(peak=False):
    """Peak (ru_maxrss) or current (VmRSS) resident set size, Linux."""
    if not peak and os.path.exists("/proc/self/status"):
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB


def gpu_peak_mib(backend):
    """Peak device memory in MiB when a GPU is in use, else None."""
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
    elif backend == "jax":
        import jax

        if jax.devices()[0].platform == "gpu":
            return jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    else:
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def time_calls(run, count, start=0):
    """Seconds of each call `run(i)`; every call must end in a host sync."""
    seconds = []
    for i in range(start, start + count):
        begin = time.perf_counter()
        run(i)
        seconds.append(time.perf_counter() - begin)
    return seconds


def summarize(seconds):
    """Median and quartiles, in ms: robust to a machine others are using."""
    q1, median, q3 = statistics.quantiles([1000 * s for s in seconds], n=4)
    return median, q1, q3


def report(tag, **values):
    print(f"{tag} {json.dumps(values, default=float)}", flush=True)


# === Models ===


def build_ours(cfg, dropout):
    import keras_transformer

    return keras_transformer.Transformer(
        vocabulary_size=cfg["vocab"],
        num_layers=cfg["layers"],
        num_heads=cfg["heads"],
        hidden_dim=cfg["hidden"],
        intermediate_dim=cfg["ff"],
        dropout=dropout,
        attention_dropout=0.0,
    )


def build_kerashub(cfg, dropout):
    import keras
    import keras_hub

    hidden, ff, heads = cfg["hidden"], cfg["ff"], cfg["heads"]
    encoder_ids = keras.Input((None,), dtype="int32", name="encoder_token_ids")
    decoder_ids = keras.Input((None,), dtype="int32", name="decoder_token_ids")
    embedding = keras_hub.layers.ReversibleEmbedding(
        cfg["vocab"],
        hidden,
        tie_weights=True,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=hidden**-0.5),
    )
    positions = keras_hub.layers.SinePositionEncoding()

    def embed(ids):
        x = embedding(ids) * math.sqrt(hidden)
        return keras.layers.Dropout(dropout)(x + positions(x))

    encoder_mask = keras.ops.not_equal(encoder_ids, 0)
    decoder_mask = keras.ops.not_equal(decoder_ids, 0)
    x = embed(encoder_ids)
    for _ in range(cfg["layers"]):
        layer = keras_hub.layers.TransformerEncoder(ff, heads, dropout=dropout)
        x = layer(x, padding_mask=encoder_mask)
    y = embed(decoder_ids)
    for _ in range(cfg["layers"]):
        layer = keras_hub.layers.TransformerDecoder(ff, heads, dropout=dropout)
        y = layer(
            y, x, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask
        )
    inputs = {"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}
    return keras.Model(inputs, embedding(y, reverse=True))


def build_torch(cfg, dropout):
    import torch
    from torch import nn

    hidden, max_len = cfg["hidden"], max(cfg["src_len"], cfg["tgt_len"])
    angles = np.arange(max_len)[:, None] / 1e4 ** (np.arange(0, hidden, 2) / hidden)
    table = np.stack([np.sin(angles), np.cos(angles)], -1).reshape(max_len, hidden)

    class NativeTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(cfg["vocab"], hidden)
            nn.init.normal_(self.embedding.weight, std=hidden**-0.5)
            table_tensor = torch.tensor(table, dtype=torch.float32)
            self.register_buffer("positions", table_tensor, persistent=False)
            self.dropout = nn.Dropout(dropout)
            self.transformer = nn.Transformer(
                hidden, cfg["heads"], cfg["layers"], cfg["layers"], cfg["ff"],
                dropout, batch_first=True,
            )  # fmt: skip
            self.output = nn.Linear(hidden, cfg["vocab"], bias=False)
            self.output.weight = self.embedding.weight  # tied

        def embed(self, ids):
            x = self.embedding(ids) * math.sqrt(hidden)
            return self.dropout(x + self.positions[: ids.shape[1]])

        def forward(self, source, target):
            source_padding, target_padding = source == 0, target == 0  # True: pad
            length = target.shape[1]
            future = torch.ones(length, length, dtype=torch.bool, device=target.device)
            outputs = self.transformer(
                self.embed(source),
                self.embed(target),
                tgt_mask=torch.triu(future, diagonal=1),  # True: masked
                src_key_padding_mask=source_padding,
                tgt_key_padding_mask=target_padding,
                memory_key_padding_mask=source_padding,
                tgt_is_causal=True,
            )
            return self.output(outputs)

    return NativeTransformer()


# === Workers: each runs in its own subprocess ===


def make_train_step(system, dropout, cfg, backend):
    """Returns `step(batch) -> loss as a host float` and the parameter count."""
    bfloat16 = cfg["precision"] == "bfloat16"
    if system.startswith("torch"):
        import contextlib

        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        module = build_torch(cfg, dropout).to(device)
        model = torch.compile(module) if system == "torch_compiled" else module
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss(ignore_index=0)
        module.train()

        def autocast():
            if not bfloat16:
                return contextlib.nullcontext()
            return torch.autocast(device, dtype=torch.bfloat16)

        def step(batch):
            source, decoder_in, labels = (torch.from_numpy(a).to(device) for a in batch)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                logits = model(source, decoder_in).reshape(-1, cfg["vocab"])
                loss = loss_fn(logits.float(), labels.reshape(-1).long())
            loss.backward()
            optimizer.step()
            return loss.item()

        return step, sum(p.numel() for p in module.parameters())  # tied: once

    import keras

    if bfloat16:
        keras.config.set_dtype_policy("mixed_bfloat16")
    model = (build_ours if system == "ours" else build_kerashub)(cfg, dropout)
    jit_compile = True if backend == "tensorflow" else "auto"
    if system == "ours" and backend == "torch" and cfg["torch_jit"]:
        jit_compile = True  # the forward pass and the update as torch graphs
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )

    calls = 0

    def step(batch):
        nonlocal calls
        source, decoder_in, labels = batch
        inputs = {"encoder_token_ids": source, "decoder_token_ids": decoder_in}
        weights = (labels != 0).astype("float32")  # padding: weight 0
        calls += 1
        if backend != "torch" or calls == 1:
            return model.train_on_batch(inputs, labels, sample_weight=weights)
        # On torch, after the first call (which builds the model, optimizer
        # and metrics), the step `fit` runs: train_on_batch also rebuilds a
        # torch ParameterDict of every variable at each call (its build check).
        data = keras.tree.map_structure(
            keras.ops.convert_to_tensor, (inputs, labels, weights)
        )
        return float(model.train_function([data])["loss"])

    return step, model.count_params()


def train_flops(cfg):
    """Model FLOPs of one training step (forward and backward: 3 × the
    forward's multiply-adds × 2), counted over padded positions: the matrix
    products of every layer, attention scores and values, and the output
    projection; embeddings, norms and softmax are left out."""
    d, ff, n, vocab = cfg["hidden"], cfg["ff"], cfg["layers"], cfg["vocab"]
    batch, source, target = cfg["batch"], cfg["src_len"], cfg["tgt_len"]
    encoder = n * batch * source * (4 * d * d + 2 * d * ff + 2 * source * d)
    decoder = n * batch * target * (8 * d * d + 2 * d * ff + 2 * (target + source) * d)
    projection = batch * target * d * vocab
    return 3 * 2 * (encoder + decoder + projection)


def train_worker(system, dropout, cfg):
    """Builds and warms up a model, then times steps when the driver says so.

    Prints `READY {...}`; runs a round of steps and prints `TIMES {...}` for
    each `RUN` line on stdin; prints `RESULT {...}` (memory) on `STOP`.
    """
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if system.startswith("torch"):
        import torch  # noqa: F401
    else:  # both Keras systems import the same modules before the baseline
        import keras_hub  # noqa: F401

        import keras_transformer  # noqa: F401
    batches = make_batches(cfg, 8)
    rss_start = rss_mib()
    step, params = make_train_step(system, dropout, cfg, backend)

    def run(i):
        return step(batches[i % len(batches)])

    warmup_s = sum(time_calls(run, cfg["warmup"]))
    tokens = np.mean([np.count_nonzero(labels) for *_, labels in batches])
    report("READY", params=params, tokens=tokens, warmup_s=warmup_s)
    for index, line in enumerate(sys.stdin):
        if line.strip() == "STOP":
            break
        start = cfg["warmup"] + index * cfg["steps"]
        report("TIMES", seconds=time_calls(run, cfg["steps"], start))
    memory = rss_mib(peak=True) - rss_start
    profile = None
    if cfg.get("profile") and backend == "torch":
        profile = profile_steps(run, cfg["steps"])
    report(
        "RESULT",
        rss_delta_mib=memory,
        gpu_peak_mib=gpu_peak_mib(backend),
        profile=profile,
    )


PROFILE_ROWS = 12


def profile_steps(run, count):
    """Where `count` more steps spend their time (torch backend), per step:
    wall time, the GPU's kernel time (on a GPU), the kernels (or, on a CPU,
    the operators) that take most, and the largest entries of dynamo's
    compile times (the warm-up)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as profiler:
        wall = sum(time_calls(run, count, start=10_000))
    events = profiler.key_averages()
    if cuda:  # the kernels (operators also carry their kernels' time)
        kernel = torch.autograd.DeviceType.CUDA
        events = [e for e in events if e.device_type == kernel]

    def own_time(event):  # microseconds
        if cuda:
            return event.self_device_time_total
        return event.self_cpu_time_total

    busy = sum(own_time(e) for e in events) if cuda else None
    top = sorted(events, key=own_time, reverse=True)[:PROFILE_ROWS]
    headers, values = torch._dynamo.utils.compile_times(repr="csv", aggregate=True)
    compile_s = sorted(
        ((name, float(value)) for name, value in zip(headers, values, strict=True)),
        key=lambda item: -item[1],
    )[:6]
    return {
        "wall_ms": 1000 * wall / count,
        "busy_ms": busy / 1000 / count if cuda else None,
        "top": [[e.key[:70], own_time(e) / 1000 / count, e.count / count] for e in top],
        "compile_s": compile_s,
    }


def attention_grad_fn(layer, x, backend):
    """Returns a function computing d sum(layer(x, x)) / d weights, synced."""
    kwargs = {"use_causal_mask": True, "training": True}
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def grads(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, x, **kwargs))
            return tape.gradient(loss, layer.trainable_variables)

        return lambda: grads(x)[0].numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(trainable, x):
            outputs, _ = layer.stateless_call(trainable, non_trainable, x, x, **kwargs)
            return jnp.sum(outputs)

        grads = jax.jit(jax.grad(loss))
        return lambda: jax.block_until_ready(grads(trainable, x))
    import torch

    def run():
        for variable in layer.trainable_variables:
            variable.value.grad = None
        layer(x, x, **kwargs).sum().backward()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    return run


def attention_worker(cfg):
    import keras

    from keras_transformer.layers import MultiHeadAttention

    key_dim = ATTENTION_SHAPE[-1] // ATTENTION_HEADS
    x = np.random.default_rng(0).normal(size=ATTENTION_SHAPE).astype("float32")
    x = keras.ops.convert_to_tensor(x)
    runs = []
    for layer in (
        MultiHeadAttention(ATTENTION_HEADS, key_dim, dropout=0.0),
        keras.layers.MultiHeadAttention(ATTENTION_HEADS, key_dim, dropout=0.0),
    ):
        layer(x, x, use_causal_mask=True)  # builds
        runs.append(attention_grad_fn(layer, x, keras.backend.backend()))
    # After 3 warm-up calls each, the layers alternate call by call.
    seconds = time_calls(lambda i: runs[i % 2](), 2 * cfg["attn_iters"] + 6)[6:]
    report("RESULT", ours=summarize(seconds[0::2]), keras=summarize(seconds[1::2]))


# === Driver ===


class Worker:
    """This script as a worker subprocess, driven line by line."""

    def __init__(self, cfg, worker_args):
        command = [sys.executable, os.path.abspath(__file__), *worker_args]
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            command + ["--worker-config", json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.error = None

    def request(self, command, tag):
        """Sends `command` (if any); returns the values of the `tag` reply."""
        try:
            if command:
                self.proc.stdin.write(command + "\n")
                self.proc.stdin.flush()
            for line in self.proc.stdout:
                if line.startswith(tag + " "):
                    return json.loads(line.removeprefix(tag + " "))
        except (BrokenPipeError, ValueError):  # the worker is gone
            pass
        self.proc.wait()
        self.log.seek(0)
        lines = self.log.read().strip().splitlines()
        self.error = lines[-1] if lines else f"exit code {self.proc.returncode}"


def run_training(cfg, runs):
    """Trains each (dropout, system) in its own process, alternating rounds."""
    workers, results = {}, {}
    for dropout, system in runs:  # one at a time, so compilation runs alone
        print(f"[{system}, dropout {dropout}]", file=sys.stderr, flush=True)
        worker = Worker(cfg, ["--system", system, "--dropout", str(dropout)])
        workers[(dropout, system)] = worker
        results[(dropout, system)] = ready = worker.request(None, "READY")
        if ready:
            print(f"  ready: warm-up {ready['warmup_s']:.1f} s", file=sys.stderr)
    seconds = {run: [] for run in runs}
    for _ in range(cfg["rounds"]):
        for run, worker in workers.items():
            seconds[run] += (worker.request("RUN", "TIMES") or {}).get("seconds", [])
    for run, worker in workers.items():
        memory = worker.request("STOP", "RESULT")
        if worker.error:
            results[run] = {"error": worker.error}
            continue
        median, q1, q3 = summarize(seconds[run])
        results[run].update(
            memory,
            ms=(median, q1, q3),
            min_ms=1000 * min(seconds[run]),
            tokens_per_s=1000 * results[run]["tokens"] / median,
        )
    return results


def machine_description():
    cpu = platform.processor() or platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as info:
            names = [
                line.split(":")[1].strip() for line in info if "model name" in line
            ]
        cpu = names[0] if names else cpu
    gpu = gpu_names() or "none"
    return f"{os.cpu_count()} CPUs ({cpu}), GPU: {gpu.replace(chr(10), ', ')}"


def gpu_names():
    """nvidia-smi's GPU names, a line each; "" without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return ""
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    return subprocess.run(query, capture_output=True, text=True).stdout.strip()


def ms(stats):
    median, q1, q3 = stats
    return f"{median:.1f} [{q1:.1f}-{q3:.1f}]"


def print_training(results, cfg, size):
    print(
        f"### Training throughput ({size} size)\n\nvocab {cfg['vocab']}, d_model "
        f"{cfg['hidden']}, {cfg['layers']}+{cfg['layers']} layers, {cfg['heads']} "
        f"heads, d_ff {cfg['ff']}; batch {cfg['batch']}, source/target padded to "
        f"{cfg['src_len']}/{cfg['tgt_len']}, lengths uniform in [{cfg['min_len']}, "
        f"{cfg['src_len']}]; {cfg['precision']}; {cfg['warmup']} warm-up steps, "
        f"then {cfg['rounds']} rounds of {cfg['steps']} timed steps.\n"
    )
    on_gpu = any(r.get("gpu_peak_mib") for r in results.values())
    peak = cfg.get("peak_tflops")
    print(
        "| dropout | system | params | target tok/s | ms/step | min ms | warm-up s "
        f"| {'peak GPU MiB' if on_gpu else 'peak RSS Δ MiB'} | MFU | ours / system "
        "| (min) |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    )
    for (dropout, system), r in results.items():
        ours = results[(dropout, "ours")]
        if "error" in r:
            print(f"| {dropout} | {SYSTEMS[system]} | failed: {r['error']} |")
            continue
        ratio = ratio_min = "n/a"
        if "error" not in ours:
            ratio = f"{ours['tokens_per_s'] / r['tokens_per_s']:.2f}x"
            ratio_min = f"{r['min_ms'] / ours['min_ms']:.2f}x"
        mfu = "n/a"
        if peak:
            mfu = f"{train_flops(cfg) / (r['ms'][0] / 1000) / (peak * 1e12):.1%}"
        print(
            f"| {dropout} | {SYSTEMS[system]} | {r['params']:,} "
            f"| {r['tokens_per_s']:,.0f} | {ms(r['ms'])} | {r['min_ms']:.1f} "
            f"| {r['warmup_s']:.1f} | {r['gpu_peak_mib'] or r['rss_delta_mib']:,.0f} "
            f"| {mfu} | {ratio} | {ratio_min} |"
        )
    memory = "peak device memory allocated"
    if not on_gpu:
        memory = "peak process RSS (ru_maxrss) minus the RSS before the model is built"
    print(NOTES.format(memory=memory, warmup=cfg["warmup"], steps=cfg["steps"]))
    if cfg["torch_jit"]:
        print(
            "- ours on torch: compile(jit_compile=True), the forward pass and "
            "the update compiled as torch graphs; torch.nn.Transformer + "
            "torch.compile: torch.compile(model), Adam eager."
        )
    if cfg["precision"] == "bfloat16":
        print(
            "- bfloat16: Keras' mixed_bfloat16 policy; torch: torch.autocast "
            "(bfloat16) around the forward pass and the loss."
        )
    if peak:
        print(
            f"- MFU: model FLOPs per step ({train_flops(cfg) / 1e12:.2f} TFLOP: "
            "3 × 2 × the multiply-adds of the layers' matrix products, attention "
            "and the output projection, over padded positions) / median step "
            f"time / {peak:g} TFLOP/s, the GPU's dense bfloat16 peak."
        )
    if not any(system == "torch" for _, system in results):
        print("- torch.nn.Transformer is measured on the torch backend only.")
    print_profiles(results, cfg)


def print_profiles(results, cfg):
    """The --profile sections: where each system's steps spend their time."""
    for (dropout, system), r in results.items():
        profile = r.get("profile")
        if not profile:
            continue
        busy = profile["busy_ms"]
        kind = "GPU kernels" if busy is not None else "CPU operators (self time)"
        print(
            f"\n### Profile: {SYSTEMS[system]}, dropout {dropout}\n\n"
            f"torch.profiler over {cfg['steps']} more steps: "
            f"{profile['wall_ms']:.1f} ms a step"
            + (
                f", of which the GPU's kernels run {busy:.1f} ms "
                f"({busy / profile['wall_ms']:.0%})"
                if busy is not None
                else ""
            )
            + f".\n\n| {kind} | ms a step | calls a step |\n|---|--:|--:|"
        )
        for name, milliseconds, calls in profile["top"]:
            name = name.replace("|", "/")
            print(f"| `{name}` | {milliseconds:.2f} | {calls:g} |")
        if profile["compile_s"]:
            print(
                "\nLargest compile times of the warm-up (s, "
                "`torch._dynamo.utils.compile_times`): "
                + ", ".join(f"{n} {v:.1f}" for n, v in profile["compile_s"])
            )


def print_attention(attention, backend):
    batch, length, width = ATTENTION_SHAPE
    print(
        f"\n### Attention forward+backward (batch {batch}, length {length}, "
        f"width {width}, {ATTENTION_HEADS} heads, causal self-attention)\n"
    )
    if "error" in attention:
        print(f"failed: {attention['error']}")
        return
    grad = {
        "tensorflow": "tf.GradientTape in tf.function(jit_compile=True)",
        "jax": "jax.jit(jax.grad(f)) of layer.stateless_call",
        "torch": "eager autograd (.backward())",
    }[backend]
    print(
        "| layer | ms / iteration | keras / ours |\n|---|--:|--:|\n"
        f"| ours: keras_transformer.layers.MultiHeadAttention "
        f"| {ms(attention['ours'])} | |\n"
        f"| keras.layers.MultiHeadAttention | {ms(attention['keras'])} "
        f"| {attention['keras'][0] / attention['ours'][0]:.2f}x |\n\n"
        f"- Gradients of sum(outputs) w.r.t. the layer weights, {grad}.\n"
        "- Dropout 0: both layers call keras.ops.dot_product_attention("
        "is_causal=True).\n- ms: median [interquartile range], the two layers "
        "alternating call by call. keras / ours > 1 means ours is faster."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small, fast run")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="tiny models: a smoke test whose figures mean nothing (wins over --quick)",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="the paper's dimensions, batch 192 × length 64 unless given (a GPU run)",
    )
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default=None)
    parser.add_argument("--batch", type=int, help="sentences per batch")
    parser.add_argument(
        "--length", type=int, help="source and target padded length (lengths from half)"
    )
    parser.add_argument("--rounds", type=int, help="timed rounds per system")
    parser.add_argument(
        "--systems",
        help=f"comma-separated, of {','.join(SYSTEMS)} (default: those of the backend)",
    )
    parser.add_argument(
        "--dropouts", default=None, help="comma-separated (default: 0.0,0.1)"
    )
    parser.add_argument(
        "--torch-jit",
        action="store_true",
        help="torch: ours with compile(jit_compile=True) (the default with --preset)",
    )
    parser.add_argument(
        "--peak-tflops",
        type=float,
        help="the GPU's dense bfloat16 peak, for MFU (default: from its name)",
    )
    parser.add_argument(
        "--no-attention", action="store_true", help="skip the attention measurement"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="torch: profile a few more steps of each system (kernels, compile times)",
    )
    parser.add_argument("--worker-config", help=argparse.SUPPRESS)
    parser.add_argument("--system", choices=list(SYSTEMS), help=argparse.SUPPRESS)
    parser.add_argument("--dropout", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--attention", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_config:
        cfg = json.loads(args.worker_config)
        if args.attention:
            return attention_worker(cfg)
        return train_worker(args.system, args.dropout, cfg)
    size, cfg = make_config(args)

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    version = importlib.metadata.version
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"## Backend: {backend}\n\nkeras {version('keras')}, keras-hub "
        f"{version('keras-hub')}, {backend} {version(backend)}; {now}; "
        f"{machine_description()}; load average {os.getloadavg()[0]:.2f}\n"
    )
    systems = ["ours", "kerashub"] + (["torch"] if backend == "torch" else [])
    if args.systems:
        systems = args.systems.split(",")
        unknown = sorted(set(systems) - set(SYSTEMS))
        if unknown or "ours" not in systems:
            parser.error(f"--systems: need ours, and only {', '.join(SYSTEMS)}")
        if backend != "torch" and any(s.startswith("torch") for s in systems):
            parser.error(
                "--systems: the torch.nn.Transformer rows need KERAS_BACKEND=torch"
            )
    dropouts = DROPOUTS
    if args.dropouts:
        dropouts = tuple(float(d) for d in args.dropouts.split(","))
    runs = [(dropout, system) for dropout in dropouts for system in systems]
    print_training(run_training(cfg, runs), cfg, size)
    if not args.no_attention:
        print("[attention]", file=sys.stderr, flush=True)
        worker = Worker(cfg, ["--attention"])
        result = worker.request(None, "RESULT") or {"error": worker.error}
        print_attention(result, backend)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


def make_config(args):
    """The size's name and its settings, with the command line's overrides."""
    size, cfg = ("default", DEFAULT)
    if args.tiny:
        size, cfg = ("tiny", TINY)
    elif args.quick:
        size, cfg = ("quick", QUICK)
    elif args.preset:
        size, cfg = (args.preset, {**GPU_DEFAULT, **PRESETS[args.preset]})
    cfg = {**cfg, "precision": args.precision or "float32"}
    if args.batch:
        cfg["batch"] = args.batch
    if args.length:
        cfg.update(src_len=args.length, tgt_len=args.length, min_len=args.length // 2)
    if args.rounds:
        cfg["rounds"] = args.rounds
    cfg["torch_jit"] = args.torch_jit or bool(args.preset)
    cfg["profile"] = args.profile
    if cfg["torch_jit"]:  # ours: an eager first step, then the compiling one
        cfg["warmup"] = max(cfg["warmup"], 2)
    cfg["peak_tflops"] = args.peak_tflops or gpu_peak_tflops(cfg["precision"])
    return size, cfg


def gpu_peak_tflops(precision):
    """The dense bfloat16 peak of a GPU this table knows, in bfloat16 runs."""
    if precision != "bfloat16":
        return None
    name = gpu_names()
    return next((peak for word, peak in PEAK_BF16_TFLOPS.items() if word in name), None)


if __name__ == "__main__":
    main()
