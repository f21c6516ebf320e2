"""CheckpointKeeper: interval checkpoints (per epoch or per N updates), the
best weights with their record, and what a resumed run keeps."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from keras_transformer.training import CheckpointKeeper, HistoryLogger


def _fit(callbacks, epochs, batches=3, model=None, initial_epoch=0):
    """Fits a one-layer model on `batches` batches per epoch."""
    callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
    if model is None:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    features = np.ones((batches * 2, 4), "float32")
    targets = np.zeros((batches * 2, 1), "float32")
    model.fit(
        features,
        targets,
        batch_size=2,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=callbacks,
        verbose=0,
    )
    return model


def test_epoch_checkpoints_keep_the_newest(tmp_path):
    keeper = CheckpointKeeper(tmp_path, keep=2, monitor="loss", mode="min")
    model = _fit(keeper, epochs=3)
    names = [os.path.basename(path) for path in keeper.checkpoint_paths()]
    assert names == ["epoch-0002.weights.h5", "epoch-0003.weights.h5"]
    # The newest checkpoint holds the final weights.
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    other.load_weights(keeper.checkpoint_paths()[-1])
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


def test_step_checkpoints_every_n_updates(tmp_path):
    keeper = CheckpointKeeper(tmp_path, keep=3, monitor="loss", save_freq=2)
    _fit(keeper, epochs=3)  # 9 updates: checkpoints at 2, 4, 6, 8
    names = [os.path.basename(path) for path in keeper.checkpoint_paths()]
    assert names == [
        "step-0000004.weights.h5",
        "step-0000006.weights.h5",
        "step-0000008.weights.h5",
    ]
    assert not any(name.startswith("epoch-") for name in os.listdir(tmp_path))


def test_best_is_kept_and_remembered_by_a_resumed_run(tmp_path):
    keeper = CheckpointKeeper(tmp_path, monitor="loss", mode="min")
    _fit(keeper, epochs=2)
    with open(tmp_path / "best.json") as file:
        record = json.load(file)
    assert record["monitor"] == "loss" and record["epoch"] == 2
    assert os.path.isfile(tmp_path / "best.weights.h5")
    resumed = CheckpointKeeper(tmp_path, monitor="loss", mode="min")
    assert resumed.best == pytest.approx(record["value"])
    # A record for another monitor is not compared against.
    assert CheckpointKeeper(tmp_path, monitor="val_bleu").best is None


@pytest.mark.parametrize(
    "kwargs, message",
    [({"mode": "up"}, "mode must be"), ({"save_freq": 0}, "save_freq must be")],
)
def test_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        CheckpointKeeper(tmp_path, **kwargs)


class _EveryOtherEpoch(keras.callbacks.Callback):
    """Logs `val_bleu` on odd epochs only, as BLEU every 2 epochs does."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch % 2:
            logs["val_bleu"] = float(epoch)


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_history_keeps_values_logged_every_other_epoch_and_resumes(tmp_path):
    path = tmp_path / "history.csv"
    model = None
    for epochs in (3, 2):  # a run, then a resumed one that starts on an even epoch
        logger = HistoryLogger(str(path), expected_keys=("val_bleu",))
        model = _fit([_EveryOtherEpoch(), logger], epochs=epochs, model=model)
    rows = _rows(path)
    assert [row["val_bleu"] for row in rows] == ["NA", "1.0", "NA", "NA", "1.0"]
    assert all(row["loss"] not in ("", "NA") for row in rows)
    # Keras' own CSVLogger takes its columns from the first epoch: BLEU is lost.
    _fit([_EveryOtherEpoch(), keras.callbacks.CSVLogger(str(tmp_path / "k.csv"))], 2)
    assert "val_bleu" not in _rows(tmp_path / "k.csv")[0]


def test_history_rows_of_a_killed_runs_epochs_are_replaced(tmp_path):
    """A run killed after writing epoch 1's row resumes at epoch 1: that row
    is dropped first, so each epoch is in the file once."""
    path = tmp_path / "history.csv"
    model = _fit([HistoryLogger(str(path))], epochs=2)
    assert [row["epoch"] for row in _rows(path)] == ["0", "1"]
    resumed = HistoryLogger(str(path), discard_from=1)
    _fit([resumed], epochs=2, model=model, initial_epoch=1)
    assert [row["epoch"] for row in _rows(path)] == ["0", "1"]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
