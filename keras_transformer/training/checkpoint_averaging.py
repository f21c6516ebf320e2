"""Averaging the weights of the last checkpoints."""

import os
import tempfile

import keras
from keras import ops

from keras_transformer.weights_file import WEIGHTS_SUFFIX, read_weights_layout


def average_checkpoints(model, weight_paths):
    """Sets the model's weights to the mean of several saved checkpoints.

    Vaswani et al. 2017, §6.1: the base models use "a single model obtained
    by averaging the last 5 checkpoints", the big models the last 20. Each
    file (written by `model.save_weights`) is loaded into `model` in turn and
    every floating-point weight is averaged elementwise in float32 (the
    arithmetic mean), then cast back to the weight's dtype. Weights of other
    dtypes (none in the Transformer) take the last file's value. Optimizer
    state is not involved.

    Before anything is loaded each file is checked against the model: it
    must exist and hold exactly the weights, by name and shape, that
    `model.save_weights` would write for this model. On any error the model
    keeps its original weights.

    Args:
        model: a built `keras.Model`.
        weight_paths: paths of `.weights.h5` files saved from models of the
            same architecture.

    Returns:
        `model`, holding the averaged weights.

    Raises:
        FileNotFoundError: a file is missing (the message names it).
        ValueError: no paths, a path without the `.weights.h5` suffix, or a
            file whose weights do not match the model (the message names the
            file and the first differences).

    Example:

    >>> from keras_transformer.models.transformer import Transformer
    >>> model = Transformer.from_preset("transformer_tiny", vocabulary_size=100)
    >>> paths = [f"ckpt/epoch_{i}.weights.h5" for i in range(16, 21)]
    >>> average_checkpoints(model, paths).save_weights("averaged.weights.h5")
    """
    weight_paths = [os.fspath(path) for path in weight_paths]
    if not weight_paths:
        raise ValueError("average_checkpoints needs at least one weights file.")
    expected = _expected_layout(model)
    for path in weight_paths:
        _check_file(path, expected)

    weights = model.weights
    # A copy: on torch the numpy array shares the CPU variable's memory.
    original = [ops.convert_to_numpy(weight).copy() for weight in weights]
    try:
        sums = [ops.zeros(weight.shape, "float32") for weight in weights]
        for path in weight_paths:
            try:
                model.load_weights(path)
            except Exception as error:
                raise ValueError(
                    f"Could not load the weights file {path!r} into the model: {error}"
                ) from error
            sums = [
                ops.add(total, ops.cast(weight, "float32"))
                for total, weight in zip(sums, weights, strict=True)
            ]
    except BaseException:
        for weight, value in zip(weights, original, strict=True):
            weight.assign(value)
        raise

    count = float(len(weight_paths))
    for weight, total in zip(weights, sums, strict=True):
        if _is_float(weight.dtype):
            weight.assign(ops.cast(total / count, weight.dtype))
    return model


def _is_float(dtype):
    return "float" in keras.backend.standardize_dtype(dtype)


def _expected_layout(model):
    """What `model.save_weights` writes for this model."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "reference" + WEIGHTS_SUFFIX)
        model.save_weights(path)
        return read_weights_layout(path)


def _check_file(path, expected):
    if not path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(
            f"Expected a {WEIGHTS_SUFFIX} file written by model.save_weights; "
            f"received {path!r}."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint weights file not found: {path!r}.")
    found = read_weights_layout(path)
    if found == expected:
        return
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    reshaped = sorted(
        f"{name} {found[name]} (model: {expected[name]})"
        for name in set(expected) & set(found)
        if found[name] != expected[name]
    )
    problems = [
        f"{label}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"
        for label, names in (
            ("missing", missing),
            ("not in the model", unexpected),
            ("other shape", reshaped),
        )
        if names
    ]
    raise ValueError(
        f"The weights in {path!r} do not match the model ("
        + "; ".join(problems)
        + "). Was it saved from a model of another architecture?"
    )
