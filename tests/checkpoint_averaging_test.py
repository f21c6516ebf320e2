import os

import keras
import numpy as np
import pytest

from keras_transformer.models.transformer import Transformer
from keras_transformer.training import average_checkpoints
from tests.harness import to_numpy


def tiny_transformer():
    return Transformer(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
    )


def small_model(units=4, extra_layer=False, dtype=None):
    inputs = keras.Input((3,))
    x = keras.layers.Dense(units, dtype=dtype, name="dense")(inputs)
    x = keras.layers.LayerNormalization(dtype=dtype, name="norm")(x)
    if extra_layer:
        x = keras.layers.Dense(2, dtype=dtype, name="head")(x)
    return keras.Model(inputs, x)


def randomize(model, seed):
    rng = np.random.RandomState(seed)
    for weight in model.weights:
        weight.assign(rng.randn(*weight.shape).astype(weight.dtype))
    return [to_numpy(weight).copy() for weight in model.weights]


def save_checkpoints(model, tmp_path, seeds):
    paths, values = [], []
    for seed in seeds:
        values.append(randomize(model, seed))
        path = os.path.join(tmp_path, f"ckpt_{seed}.weights.h5")
        model.save_weights(path)
        paths.append(path)
    return paths, values


def assert_weights_equal(model, values):
    for weight, value in zip(model.weights, values, strict=True):
        np.testing.assert_array_equal(to_numpy(weight), value)


def test_average_of_three_transformer_checkpoints(tmp_path):
    model = tiny_transformer()
    paths, values = save_checkpoints(model, tmp_path, seeds=[1, 2, 3])
    randomize(model, 4)
    assert average_checkpoints(model, paths) is model
    assert len(model.weights) > 10
    for i, weight in enumerate(model.weights):
        expected = np.mean([checkpoint[i] for checkpoint in values], axis=0)
        np.testing.assert_allclose(to_numpy(weight), expected, rtol=1e-6, atol=1e-6)

    # A fresh model of the same architecture averages to the same weights.
    other = average_checkpoints(tiny_transformer(), paths)
    for mine, theirs in zip(model.weights, other.weights, strict=True):
        np.testing.assert_array_equal(to_numpy(mine), to_numpy(theirs))


def test_low_precision_weights_are_averaged_in_float32(tmp_path):
    model = small_model(dtype="float16")
    paths, values = save_checkpoints(model, tmp_path, seeds=[1, 2, 3])
    average_checkpoints(model, paths)
    for i, weight in enumerate(model.weights):
        assert keras.backend.standardize_dtype(weight.dtype) == "float16"
        stacked = np.stack([checkpoint[i] for checkpoint in values])
        expected = stacked.astype("float32").mean(0).astype("float16")
        np.testing.assert_array_equal(to_numpy(weight), expected)


def test_missing_file_is_named_and_weights_stay(tmp_path):
    model = small_model()
    paths, _ = save_checkpoints(model, tmp_path, seeds=[1, 2])
    original = randomize(model, 5)
    missing = os.path.join(tmp_path, "ckpt_9.weights.h5")
    with pytest.raises(FileNotFoundError, match="ckpt_9.weights.h5"):
        average_checkpoints(model, [*paths, missing])
    assert_weights_equal(model, original)


@pytest.mark.parametrize(
    "other_kwargs, message, reverse_message",
    [
        ({"units": 5}, "other shape", "other shape"),
        ({"extra_layer": True}, "not in the model", "missing"),
    ],
)
def test_mismatched_file_is_named_and_weights_stay(
    tmp_path, other_kwargs, message, reverse_message
):
    model = small_model()
    paths, _ = save_checkpoints(model, tmp_path, seeds=[1, 2])
    other = small_model(**other_kwargs)
    bad = os.path.join(tmp_path, "other.weights.h5")
    other.save_weights(bad)
    original = randomize(model, 5)
    with pytest.raises(ValueError, match=f"other.weights.h5.*{message}"):
        average_checkpoints(model, [paths[0], bad, paths[1]])
    assert_weights_equal(model, original)
    # The other way round.
    with pytest.raises(ValueError, match=reverse_message):
        average_checkpoints(other, paths)


def test_a_failed_load_restores_the_original_weights(tmp_path, monkeypatch):
    model = small_model()
    paths, _ = save_checkpoints(model, tmp_path, seeds=[1, 2, 3])
    original = randomize(model, 5)
    load_weights = model.load_weights
    calls = []

    def load_then_fail(path, *args, **kwargs):
        load_weights(path, *args, **kwargs)  # the weights have changed
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk error")

    monkeypatch.setattr(model, "load_weights", load_then_fail)
    with pytest.raises(ValueError, match="ckpt_2.weights.h5.*disk error"):
        average_checkpoints(model, paths)
    assert_weights_equal(model, original)


def test_bad_arguments(tmp_path):
    model = small_model()
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints(model, [])
    with pytest.raises(ValueError, match=r"\.weights\.h5.*model\.h5"):
        average_checkpoints(model, [os.path.join(tmp_path, "model.h5")])
