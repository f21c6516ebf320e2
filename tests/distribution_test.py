"""Distribution: each backend's engine on two simulated CPU devices trains
like one device, and a distributed `train()` leaves files that a
single-device process loads.

TensorFlow and JAX fix their devices when they start, and PyTorch needs one
process per device, so the distributed runs happen in subprocesses:
`tests/fixtures/distributed_training.py` for a few steps on fixed batches,
the `keras-transformer train` command for a whole (tiny) run. Each backend's
subprocess tests run only under that backend.
"""

import os
import re
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_transformer.config import (
    ExperimentConfig,
    apply_overrides,
    load_config,
    validate,
)
from keras_transformer.distribution import DeviceStrategy, configure_devices
from keras_transformer.distribution.device_strategy import pad_rows_to_multiple
from keras_transformer.distribution.torch_process_group import TorchProcessGroup
from keras_transformer.training.backup import TrainingBackup, restore_latest
from keras_transformer.training.callbacks import (
    CheckpointKeeper,
    LearningRateLogger,
    NaNGuard,
    StepLimit,
)
from keras_transformer.training.follower_callbacks import (
    RestoringBackup,
    follower_callbacks,
)
from keras_transformer.training.trainer import build_model
from keras_transformer.translator import Translator
from tests.shrunk import TINY
from tests.tiny import tiny_transformer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "distributed_training.py")
BACKEND = keras.backend.backend()
# The key projection's bias has no effect on attention (softmax ignores a
# shift shared by all keys): its gradient is rounding noise, which Adam
# normalizes into full-size steps, so its values are not compared.
NO_GRADIENT = re.compile(r"attention[/_]key[/_]bias")
# Adam divides by the root of the second moment, so last-bit differences in
# small gradients (all-reduce order) grow to ~1e-5 of the weights' scale in a
# few steps; unsynchronized gradients or a mean of per-replica means move
# them by up to ~1.
RTOL = 1e-4


def only_on(backend):
    return pytest.mark.skipif(
        BACKEND != backend,
        reason=f"distributed {backend} runs only when the suite runs on {backend}",
    )


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command, extra_env=None, timeout=300):
    env = {
        **os.environ,
        "KERAS_BACKEND": BACKEND,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "OMP_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def _torchrun(arguments):
    port = _free_port()
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        *arguments,
    ]


def _fixture_runs(tmp_path, runs, extra_env=None):
    """Runs the fixture (under torchrun on PyTorch); returns its arrays per
    process."""
    output = str(tmp_path / "runs.npz")
    arguments = [FIXTURE, output, *runs]
    if BACKEND == "torch":
        _run(_torchrun(arguments))
        paths = [output, str(tmp_path / "runs.rank1.npz")]
    else:
        _run([sys.executable, *arguments], extra_env)
        paths = [output]
    return [dict(np.load(path)) for path in paths]


def assert_trains_like_one_device(arrays, run, single="single"):
    """The losses, metrics, weights and optimizer state of `run` are those
    of the single-device run, and every copy of a variable is the same."""
    np.testing.assert_allclose(
        arrays[f"{run}/loss"], arrays[f"{single}/loss"], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        arrays[f"{run}/accuracy"], arrays[f"{single}/accuracy"], atol=1e-6
    )
    compared = 0
    for key, expected in arrays.items():
        if not key.startswith((f"{single}/weight/", f"{single}/optimizer/")):
            continue
        if NO_GRADIENT.search(key):
            continue
        actual = arrays[run + key[len(single) :]]
        if expected.dtype.kind == "f":
            scale = float(np.max(np.abs(expected))) or 1.0
            np.testing.assert_allclose(
                actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=key
            )
        else:  # the step counter
            np.testing.assert_array_equal(actual, expected, err_msg=key)
        compared += 1
    assert compared > 100  # every weight, its Adam moments, the iterations
    assert arrays[f"{run}/replica_spread"] == 0.0


# === Every backend: the single-device default and the building blocks ===


def test_auto_on_one_device_changes_nothing():
    devices = configure_devices("auto")
    assert type(devices) is DeviceStrategy
    assert (devices.replicas, devices.num_processes, devices.is_chief) == (1, 1, True)
    assert devices.token_budget(4096) == 4096
    dataset = tf.data.Dataset.range(3)
    assert devices.distribute_dataset(dataset, 3) is dataset
    assert devices.chief_first(lambda: "done") == "done"


def test_model_parallel_is_checked_against_the_model_and_devices():
    config = apply_overrides(
        ExperimentConfig(),
        ["model.hidden_dim=30", "model.num_heads=2", "train.model_parallel=4"],
    )
    with pytest.raises(ValueError) as error:
        validate(config)
    assert "model.hidden_dim (30) must be divisible by train.model_parallel" in str(
        error.value
    )
    config = apply_overrides(
        ExperimentConfig(), ["train.devices=6", "train.model_parallel=4"]
    )
    with pytest.raises(ValueError, match="multiple of train.model_parallel"):
        validate(config)


@pytest.mark.skipif(BACKEND == "jax", reason="JAX has ModelParallel")
def test_model_parallel_needs_jax():
    with pytest.raises(ValueError, match="only the JAX backend"):
        configure_devices(2, model_parallel=2)


def test_padding_rows_keeps_the_loss_and_evens_the_split():
    labels = np.array([[5, 6, 0], [7, 0, 0], [8, 9, 4]], "int32")
    dataset = tf.data.Dataset.from_tensors(
        ({"encoder_token_ids": labels + 1}, labels, (labels > 0).astype("float32"))
    )
    inputs, padded, weights = next(iter(pad_rows_to_multiple(dataset, 2)))
    assert padded.shape == (4, 3) and weights.shape == (4, 3)
    np.testing.assert_array_equal(padded[:3], labels)
    np.testing.assert_array_equal(padded[3], [0, 0, 0])  # padding tokens
    np.testing.assert_array_equal(weights[3], [0, 0, 0])
    np.testing.assert_array_equal(inputs["encoder_token_ids"][3], [0, 0, 0])


def test_each_rank_reads_its_batches_of_the_global_step():
    dataset = tf.data.Dataset.range(7)
    first, second = (TorchProcessGroup(rank, 2) for rank in (0, 1))
    assert [int(x) for x in first.distribute_dataset(dataset, 7)] == [0, 2, 4]
    # The odd batch out is left over, so both ranks take 3 steps.
    assert [int(x) for x in second.distribute_dataset(dataset, 7)] == [1, 3, 5]
    assert first.distribute_dataset(dataset, 7, training=False) is dataset
    assert first.token_budget(4096) == 2048
    with pytest.raises(ValueError, match="fewer than the 2 ranks"):
        first.distribute_dataset(tf.data.Dataset.range(1), 1)


def test_followers_keep_only_the_callbacks_that_stop_training(tmp_path):
    guard, limit = NaNGuard(), StepLimit(5)
    backup = TrainingBackup(tmp_path / "backup", save_freq=2, keep=3)
    callbacks = [
        LearningRateLogger(),
        guard,
        limit,
        CheckpointKeeper(tmp_path / "checkpoints"),
        keras.callbacks.CSVLogger(str(tmp_path / "history.csv")),
        backup,
    ]
    kept = follower_callbacks(callbacks)
    assert kept[:2] == [guard, limit]
    assert type(kept[2]) is RestoringBackup and len(kept) == 3
    assert (kept[2].backup_dir, kept[2].save_freq, kept[2].keep) == (
        backup.backup_dir,
        2,
        3,
    )


def test_a_follower_restores_the_backup_and_writes_none(tmp_path):
    def fit(callback, epochs):
        keras.utils.set_random_seed(3)
        model = tiny_transformer(12, hidden_dim=8, intermediate_dim=16, dropout=0.0)
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        tokens = np.ones((4, 3), "int32")
        inputs = {"encoder_token_ids": tokens, "decoder_token_ids": tokens}
        model.fit(
            inputs, tokens, epochs=epochs, batch_size=2, verbose=0, callbacks=[callback]
        )
        return model

    directory = tmp_path / "backup"
    chief = fit(TrainingBackup(directory), epochs=1)
    written = sorted(os.listdir(directory))
    follower = fit(RestoringBackup(directory, verbose=0), epochs=2)
    assert sorted(os.listdir(directory)) == written
    # It resumed after the chief's epoch: one more epoch, two more steps.
    assert int(keras.ops.convert_to_numpy(follower.optimizer.iterations)) == 4
    assert int(keras.ops.convert_to_numpy(chief.optimizer.iterations)) == 2


# === TensorFlow: MirroredStrategy over 2 logical CPUs ===


@only_on("tensorflow")
def test_tensorflow_mirrored_strategy_trains_like_one_device(tmp_path):
    (arrays,) = _fixture_runs(tmp_path, ["single", "data"])
    assert arrays["data/replica_copies"] == 2  # each variable on both devices
    assert_trains_like_one_device(arrays, "data")


@only_on("tensorflow")
def test_multi_worker_tensorflow_is_refused_with_what_to_do(monkeypatch):
    cluster = '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"index": 0}}'
    monkeypatch.setenv("TF_CONFIG", cluster)
    with pytest.raises(ValueError, match="MultiWorkerMirroredStrategy"):
        configure_devices(2)


# === JAX: keras.distribution over 2 simulated CPU devices ===

JAX_TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
# Large weights and their Adam moments, by path, and the sharding expected.
SHARDED = {
    r"token_embedding[/_]embeddings": "(None, 'model')",
    r"attention[/_](query|key|value)[/_]kernel": "(None, 'model')",
    r"attention[/_](query|key|value)[/_]bias": "('model',)",
    r"attention_output[/_]kernel": "('model', None)",
    r"intermediate_dense[/_]kernel": "(None, 'model')",
    r"intermediate_dense[/_]bias": "('model',)",
    r"output_dense[/_]kernel": "('model', None)",
}


@only_on("jax")
def test_jax_data_and_model_parallel_train_like_one_device(tmp_path):
    (arrays,) = _fixture_runs(tmp_path, ["single", "data", "model"], JAX_TWO_DEVICES)
    assert arrays["data/replica_copies"] == 2
    assert_trains_like_one_device(arrays, "data")
    assert_trains_like_one_device(arrays, "model")
    shardings = {
        key.removeprefix("model/sharding/"): str(value)
        for key, value in arrays.items()
        if key.startswith("model/sharding/")
    }
    sharded = 0
    for path, spec in shardings.items():
        expected = [s for p, s in SHARDED.items() if re.search(p, path)]
        if expected:
            assert spec == expected[0], path
            sharded += 1
        else:  # layer norms, output biases, the step counter: replicated
            assert "model" not in spec, path
    # The embedding, 7 weights in each of 3 attention sub-layers, 3 in each
    # of 2 feed-forward ones; each with its two Adam moments.
    assert sharded == 3 * (1 + 3 * 7 + 2 * 3)
    assert shardings["token_embedding/embeddings"] == "(None, 'model')"


@only_on("jax")
def test_jax_more_devices_than_visible_says_how_to_simulate():
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count=64"):
        configure_devices(64)


# === PyTorch: 2 gloo processes under torchrun ===


@only_on("torch")
def test_torch_ranks_train_like_one_device(tmp_path):
    chief, follower = _fixture_runs(tmp_path, ["single", "data"])
    assert_trains_like_one_device(chief, "data")
    for key, value in follower.items():  # rank 1: the same to the last bit
        np.testing.assert_array_equal(value, chief[key], err_msg=key)


@only_on("torch")
def test_torch_without_torchrun_says_how_to_launch(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node 2"):
        configure_devices(2)


# === Every backend: a whole distributed run, loaded on one device ===


def test_distributed_train_leaves_files_one_device_loads(tmp_path):
    workdir = tmp_path / "run"
    overrides = TINY + [
        "train.max_steps=2",
        "train.eval_every_epochs=1",
        "train.eval_max_sentences=2",
        "data.builtin_test_size=2",
        "decode.num_beams=1",
    ]
    command = ["-m", "keras_transformer.cli", "train", "builtin", "--devices", "2"]
    command += ["--workdir", str(workdir)]
    for override in overrides:
        command += ["--set", override]
    if BACKEND == "torch":
        output = _run(_torchrun(command))
    else:
        output = _run([sys.executable, *command], JAX_TWO_DEVICES)
    assert re.search(r"(MirroredStrategy|DataParallel|torch.distributed).* 2 ", output)
    assert "validation BLEU" in output  # the BLEU callback ran under it
    assert output.count("Translator saved") == 1  # the chief's line alone
    # One writer: one set of TensorBoard logs, one backup.
    assert len(os.listdir(workdir / "logs" / "train")) == 1
    translator = Translator.load(workdir / "translator")
    final = [keras.ops.convert_to_numpy(v) for v in translator.model.weights]
    # The run's model and optimizer, built on one device, resume the backup.
    config = load_config(workdir / "config.json")
    model = build_model(config, translator.source_tokenizer, None)
    metadata = restore_latest(model, workdir / "backup")
    assert metadata["finished"] and metadata["iterations"] == 2
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
    for value, variable in zip(final, model.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
    model.load_weights(workdir / "checkpoints" / "epoch-0001.weights.h5")
    for value, variable in zip(final, model.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)
