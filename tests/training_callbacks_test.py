"""CheckpointKeeper: interval checkpoints (per epoch or per N updates), the
best weights with their record, and what a resumed run keeps."""

import json
import os

import keras
import numpy as np
import pytest

from keras_transformer.training import CheckpointKeeper


def _fit(callback, epochs, batches=3, model=None):
    """Fits a one-layer model on `batches` batches per epoch."""
    if model is None:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    features = np.ones((batches * 2, 4), "float32")
    targets = np.zeros((batches * 2, 1), "float32")
    model.fit(
        features, targets, batch_size=2, epochs=epochs, callbacks=[callback], verbose=0
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
