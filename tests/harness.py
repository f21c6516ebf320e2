"""Shared checks every public layer passes, in the spirit of keras-hub's
`run_layer_test`: config round trip, build, symbolic and eager calls, one
`fit` step that changes the weights, and `.keras` save/load (safe mode) with
equal outputs."""

import os

import keras
import numpy as np
from keras import ops


def to_numpy(x):
    return ops.convert_to_numpy(x)


def _first(outputs):
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    tmp_path,
    call_kwargs=None,
    run_training=True,
    weights_without_gradient=(),
):
    """Runs the shared layer checks.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: dict `{call_argument_name: numpy array}` of tensor inputs,
            passed by keyword in this order.
        expected_output_shape: shape of the (first) output.
        tmp_path: a directory for the saved model.
        call_kwargs: non-tensor call arguments (e.g. `use_causal_mask=True`).
        run_training: run a fit step and check that every weight moved.
        weights_without_gradient: path suffixes of weights whose gradient is
            zero by construction (the key bias: softmax cancels it).
    """
    call_kwargs = call_kwargs or {}

    # Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"get_config() lacks __init__ argument {key!r}"
        if not isinstance(value, (keras.layers.Layer, keras.initializers.Initializer)):
            serialized = config[key]
            if callable(value):
                continue
            assert serialized == value, f"{key}: {serialized!r} != {value!r}"
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config

    # Eager call.
    eager = _first(layer(**input_data, **call_kwargs))
    assert tuple(eager.shape) == tuple(expected_output_shape)

    # Symbolic call inside a functional model.
    inputs = {
        name: keras.Input(
            shape=value.shape[1:],
            batch_size=value.shape[0],
            dtype=str(value.dtype),
            name=name,
        )
        for name, value in input_data.items()
    }
    symbolic_layer = layer_cls.from_config(config)
    outputs = _first(symbolic_layer(**inputs, **call_kwargs))
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    model = keras.Model(inputs, outputs)

    if run_training:
        before = [to_numpy(w).copy() for w in symbolic_layer.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = np.random.RandomState(0).randn(*expected_output_shape)
        model.fit(input_data, target.astype("float32"), epochs=1, verbose=0)
        after = [to_numpy(w) for w in symbolic_layer.trainable_weights]
        for weight, old, new in zip(
            symbolic_layer.trainable_weights, before, after, strict=True
        ):
            if weight.path.endswith(tuple(weights_without_gradient)):
                np.testing.assert_allclose(old, new, atol=1e-7)
            else:
                assert not np.allclose(old, new), f"{weight.path} did not train"

    # Save and load with safe_mode on: same outputs.
    path = os.path.join(tmp_path, "layer_model.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        to_numpy(_first(restored(input_data))),
        to_numpy(_first(model(input_data))),
        atol=1e-6,
    )
    return layer


def dtype_name(x):
    """`"float32"`, `"bool"`, ... on every backend."""
    return keras.backend.standardize_dtype(x.dtype)
