"""TrainingBackup: resumes exactly, survives SIGKILL, restores across backends.

Compiling a fresh model's train step costs seconds on JAX and TensorFlow, so
the tests train few distinct models; the storage tests drive the callback
without `fit`.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_transformer.training.backup import (
    POINTER_FILE,
    STATE_FILE,
    TrainingBackup,
    read_backup_metadata,
    restore_latest,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SCRIPT = os.path.join(FIXTURES, "train_with_backup.py")
BACKENDS = ("torch", "tensorflow", "jax")
sys.path.insert(0, FIXTURES)
from train_with_backup import (  # noqa: E402
    STEPS_PER_EPOCH,
    build_model,
    state_arrays,
    train,
)

sys.path.remove(FIXTURES)


def assert_same_state(actual, expected, atol=1e-6):
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, atol=atol, err_msg=key)


def entries(directory):
    return sorted(name for name in os.listdir(directory) if "backup-" in name)


def run_script(backup_dir, output, *args, backend=None, wait=True):
    backend = backend or keras.backend.backend()
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, SCRIPT, str(backup_dir), str(output), *args]
    if not wait:
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def die_in_second_write(monkeypatch):
    """The second `np.savez` writes half its file, then the "process dies"."""
    real_savez, calls = np.savez, []

    def savez(file, **arrays):
        calls.append(None)
        if len(calls) == 2:
            real_savez(file, **arrays)
            file.truncate(file.tell() // 2)
            raise KeyboardInterrupt("killed while writing a backup")
        real_savez(file, **arrays)

    monkeypatch.setattr(np, "savez", savez)


@pytest.fixture(scope="module")
def reference():
    """The state after 3 and after 4 uninterrupted epochs, and the model.

    Tests that only need a compiled model reuse this one (a restore replaces
    all of its state) rather than compile another.
    """
    model = build_model()
    train(model, 3)
    after_3 = state_arrays(model)
    train(model, 4, initial_epoch=3)
    return {3: after_3, 4: state_arrays(model), "model": model}


def test_resumed_training_equals_uninterrupted(
    tmp_path, capsys, monkeypatch, reference
):
    model = build_model()
    train(model, 2, tmp_path, save_freq=3)
    assert read_backup_metadata(tmp_path)["finished"]

    # More epochs continue the finished run: a backup 3 steps into epoch 3,
    # then the run dies in the middle of writing the end-of-epoch backup.
    die_in_second_write(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(model, 4, tmp_path, save_freq=3)
    monkeypatch.undo()
    assert any(name.startswith(".tmp-") for name in entries(tmp_path))
    interrupted = read_backup_metadata(tmp_path)
    assert (interrupted["epoch"], interrupted["step"]) == (2, 3)
    assert not interrupted["finished"]

    # A fresh model and optimizer resume mid-epoch.
    resumed = build_model(seed=99)
    history = train(resumed, 4, tmp_path, save_freq=3)
    assert history.epoch == [2, 3]
    assert_same_state(state_arrays(resumed), reference[4])
    assert int(keras.ops.convert_to_numpy(resumed.optimizer.iterations)) == 20
    backend = keras.backend.backend()
    assert capsys.readouterr().out.splitlines() == [
        f"Restored backup of epoch 2 (written by {backend}); resuming at epoch 3.",
        f"Restored backup of epoch 3, step 3 (written by {backend}); "
        "resuming at epoch 3, step 4.",
    ]
    final = read_backup_metadata(tmp_path)
    assert final["finished"] and (final["epoch"], final["step"]) == (4, 0)
    assert final["iterations"] == 4 * STEPS_PER_EPOCH
    assert entries(tmp_path) == [os.path.basename(final["path"])]

    # The same command again: nothing to train, no new backup.
    again = build_model(seed=5)
    assert train(again, 4, tmp_path, save_freq=3).epoch == []
    assert_same_state(state_arrays(again), reference[4])
    assert read_backup_metadata(tmp_path)["path"] == final["path"]
    assert "training had finished" in capsys.readouterr().out


def test_sigkill_then_rerun_completes_like_an_uninterrupted_run(tmp_path, reference):
    backup_dir = tmp_path / "backup"
    args = ("--save-freq", "3")
    slowly = ("--sleep", "0.5")
    run = run_script(backup_dir, tmp_path / "1.npz", *args, *slowly, wait=False)
    deadline = time.monotonic() + 300
    while not (backup_dir / POINTER_FILE).exists():
        assert run.poll() is None, f"ended before a backup: {run.stderr.read()}"
        assert time.monotonic() < deadline, "no backup within 300 s"
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL, stderr[-3000:]
    assert not read_backup_metadata(backup_dir)["finished"]

    result = run_script(backup_dir, tmp_path / "2.npz", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("Restored backup of epoch")
    assert_same_state(dict(np.load(tmp_path / "2.npz")), reference[3])
    assert read_backup_metadata(backup_dir)["finished"]
    assert all(name.startswith("backup-") for name in entries(backup_dir))


def test_backups_written_on_other_backends_resume_here(tmp_path, capsys, reference):
    model = reference["model"]
    for writer in [b for b in BACKENDS if b != keras.backend.backend()]:
        backup_dir = tmp_path / writer
        written = tmp_path / f"{writer}.npz"
        result = run_script(backup_dir, written, "--epochs", "1", backend=writer)
        assert result.returncode == 0, result.stderr[-3000:]

        metadata = restore_latest(model, backup_dir)
        assert metadata["backend"] == writer and metadata["epoch"] == 1
        assert_same_state(state_arrays(model), dict(np.load(written)))

        assert train(model, 2, backup_dir).epoch == [1]
        assert f"(written by {writer}); resuming at epoch 2." in capsys.readouterr().out
        metadata = read_backup_metadata(backup_dir)
        assert metadata["backend"] == keras.backend.backend()
        assert metadata["iterations"] == 2 * STEPS_PER_EPOCH and metadata["finished"]


def write_backups(model, directory, epochs, keep, start=0):
    """Runs TrainingBackup through epochs `start..epochs-1` without training.

    Each epoch adds 1 to every trainable weight, so backups differ.
    """
    model.optimizer.build(model.trainable_variables)
    callback = TrainingBackup(directory, keep=keep, verbose=0)
    callback.set_model(model)
    callback.set_params({"epochs": epochs, "steps": STEPS_PER_EPOCH, "verbose": 0})
    callback.on_train_begin()
    for epoch in range(start, epochs):
        callback.on_epoch_begin(epoch)
        for batch in range(STEPS_PER_EPOCH):
            callback.on_train_batch_end(batch)
        for variable in model.trainable_variables:
            variable.assign(variable + 1.0)
        callback.on_epoch_end(epoch)
    callback.on_train_end()
    return state_arrays(model)


def test_incomplete_and_corrupt_backups_are_never_loaded(tmp_path):
    expected = write_backups(build_model(), tmp_path, epochs=2, keep=2)
    # Epoch 2, and epoch 2 marked finished.
    assert entries(tmp_path) == ["backup-00000002", "backup-00000003"]
    newest = tmp_path / "backup-00000003"

    # One being written when the run died; one complete on disk but never
    # committed (killed before the pointer moved), here with broken data.
    shutil.copytree(newest, tmp_path / ".tmp-backup-00000010")
    (tmp_path / ".tmp-backup-00000010" / STATE_FILE).write_bytes(b"PK\x03\x04")
    shutil.copytree(newest, tmp_path / "backup-00000011")
    (tmp_path / "backup-00000011" / STATE_FILE).write_bytes(b"garbage")
    model = build_model(seed=3)
    assert restore_latest(model, tmp_path)["path"] == str(newest)
    assert_same_state(state_arrays(model), expected)

    # The committed backup itself is corrupt: the previous one is used.
    data = (newest / STATE_FILE).read_bytes()
    (newest / STATE_FILE).write_bytes(data[: len(data) // 2])
    model = build_model(seed=4)
    with pytest.warns(UserWarning, match="Skipping unreadable backup"):
        metadata = restore_latest(model, tmp_path)
    assert metadata["path"] == str(tmp_path / "backup-00000002")
    assert (metadata["epoch"], metadata["finished"]) == (2, False)
    assert_same_state(state_arrays(model), expected)

    # The next backups clear out everything but the newest `keep`.
    with pytest.warns(UserWarning):
        write_backups(model, tmp_path, epochs=3, keep=2, start=2)
    assert entries(tmp_path) == ["backup-00000012", "backup-00000013"]

    # Nothing readable: an error, not a silent restart from scratch.
    for name in entries(tmp_path):
        (tmp_path / name / STATE_FILE).write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="scratch"):
        restore_latest(build_model(), tmp_path)


def test_a_backup_of_another_architecture_is_an_error(tmp_path):
    write_backups(build_model(), tmp_path, epochs=1, keep=1)
    with pytest.raises(ValueError, match="does not match the model.*other shape"):
        restore_latest(build_model(intermediate_dim=32), tmp_path)


def test_no_backup_restores_nothing(tmp_path):
    assert restore_latest(build_model(), tmp_path / "missing") is None
    assert read_backup_metadata(tmp_path) is None


@pytest.mark.parametrize("kwargs", [{"save_freq": "batch"}, {"keep": 0}])
def test_invalid_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        TrainingBackup(tmp_path, **kwargs)


def test_a_resumed_epoch_logs_what_the_uninterrupted_epoch_logs(tmp_path, monkeypatch):
    """The metric totals of the batches before the restart are stored with a
    mid-epoch backup and added back, so the epoch's loss is the whole
    epoch's, not that of the batches trained after the restart."""
    expected = train(build_model(), 2).history["loss"]
    model = build_model()
    die_in_second_write(monkeypatch)  # the first epoch-end backup
    with pytest.raises(KeyboardInterrupt):
        train(model, 2, tmp_path, save_freq=3)
    monkeypatch.undo()
    metadata = read_backup_metadata(tmp_path)
    assert (metadata["epoch"], metadata["step"]) == (0, 3)
    resumed = train(build_model(seed=99), 2, tmp_path, save_freq=3, verbose=0)
    assert resumed.epoch == [0, 1]
    np.testing.assert_allclose(resumed.history["loss"], expected, rtol=1e-6)


def test_no_backup_at_an_epochs_last_batch_nor_after_a_non_finite_loss(tmp_path):
    """The epoch-end backup follows the epoch's end work (BLEU, checkpoints,
    history), so a backup due at the last batch waits for it; and once the
    loss is NaN nothing is backed up over the last good state."""
    model = build_model()
    callback = TrainingBackup(tmp_path, save_freq=5, verbose=0)  # 5 = a whole epoch
    callback.set_model(model)
    callback.set_params({"epochs": 2, "steps": STEPS_PER_EPOCH, "verbose": 0})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for batch in range(STEPS_PER_EPOCH):
        callback.on_train_batch_end(batch, {"loss": 1.0})
    assert entries(tmp_path) == []  # not at batch 5: the epoch's end comes first
    callback.on_epoch_end(0)
    assert read_backup_metadata(tmp_path)["epoch"] == 1
    callback.on_epoch_begin(1)
    callback.on_train_batch_end(0, {"loss": float("nan")})
    callback.on_epoch_end(1)
    callback.on_train_end()
    metadata = read_backup_metadata(tmp_path)
    assert (metadata["epoch"], metadata["finished"]) == (1, False)
