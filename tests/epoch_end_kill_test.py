"""A run killed (SIGKILL) during an epoch's end resumes to the files an
uninterrupted run writes: the epoch's history row, best checkpoint, backups
and results, in both backup modes.

The window: after the epoch's last batch and before its end-of-epoch backup,
while the validation BLEU is computed and the best checkpoint and the
history row are written. The killed run is a real process
(`fixtures/train_and_die.py`), resumed here by `train()`.
"""

import csv
import json
import os
import signal
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from keras_transformer.training.backup import read_backup_metadata
from keras_transformer.training.trainer import train

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)
from train_and_die import run_config  # noqa: E402

sys.path.remove(FIXTURES)

SCRIPT = os.path.join(FIXTURES, "train_and_die.py")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    train(run_config("epoch"), workdir, verbose=0)
    return workdir


def _history(workdir):
    with open(os.path.join(workdir, "history.csv"), newline="") as file:
        return list(csv.reader(file))


def _weights(path):
    arrays = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()])
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return arrays


def _results(workdir):
    with open(os.path.join(workdir, "results.json")) as file:
        results = json.load(file)
    return {key: results[key] for key in ("steps", "test")}


def _assert_same_run(resumed, uninterrupted):
    assert _history(resumed) == _history(uninterrupted)
    for name in ("best.json",):
        with (
            open(os.path.join(resumed, "checkpoints", name)) as a,
            open(os.path.join(uninterrupted, "checkpoints", name)) as b,
        ):
            assert json.load(a) == json.load(b)
    best, expected = (
        _weights(os.path.join(directory, "checkpoints", "best.weights.h5"))
        for directory in (resumed, uninterrupted)
    )
    assert sorted(best) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(best[name], value, err_msg=name)
    assert _results(resumed) == _results(uninterrupted)
    metadata = read_backup_metadata(os.path.join(resumed, "backup"))
    assert metadata["finished"] and (metadata["epoch"], metadata["step"]) == (2, 0)
    leftovers = [
        name
        for _, directories, files in os.walk(resumed)
        for name in directories + files
        if name.startswith(".tmp-")
    ]
    assert not leftovers


@pytest.mark.slow
@pytest.mark.parametrize(
    "backup_every, point",
    # Per-epoch backups, killed after the history row: the epoch is trained
    # again. Step backups, killed after the best checkpoint: the epoch's
    # last steps are (its metric totals come back from the backup).
    [("epoch", "history"), ("4", "best")],
)
def test_a_kill_during_the_epoch_end_resumes_to_the_uninterrupted_files(
    backup_every, point, uninterrupted, tmp_path
):
    workdir = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, SCRIPT, str(workdir), backup_every, "--die-at", point],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    before = read_backup_metadata(workdir / "backup")
    # The epoch's end had not been backed up: the run resumes before it.
    assert (before["epoch"], before["finished"]) in ((1, False),)
    if point == "history":
        assert len(_history(workdir)) == 3  # header, epoch 0, the killed epoch 1
    train(run_config(backup_every), workdir, verbose=0)
    _assert_same_run(workdir, uninterrupted)
    assert (
        keras.backend.backend() in read_backup_metadata(workdir / "backup")["backend"]
    )
