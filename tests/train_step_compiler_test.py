"""PyTorch's compiled train step (`compile(jit_compile=True)` on torch):
whole graphs, no graph break, one forward graph per batch shape, and the
losses, metrics and weights of eager training."""

import keras
import numpy as np
import pytest

from keras_transformer.layers.dropout import seeded_dropout
from keras_transformer.training.losses import LabelSmoothedCrossEntropy
from keras_transformer.training.metrics import MaskedAccuracy
from keras_transformer.training.optimizer import make_optimizer
from keras_transformer.training.schedule import TransformerSchedule
from tests.tiny import tiny_transformer

torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="only PyTorch compiles the train step in parts (JAX and TensorFlow "
    "compile Keras' whole train step)",
)
VOCABULARY = 40


def _batches():
    """Five batches of two shapes: (3, 6) four times, (3, 9) once."""
    rng = np.random.default_rng(0)
    batches = []
    for length in (6, 6, 6, 9, 6):
        ids = rng.integers(4, VOCABULARY, (2, 3, length)).astype("int32")
        ids[:, 0, length - 2 :] = 0  # padding in the first row
        x = {"encoder_token_ids": ids[0], "decoder_token_ids": ids[1]}
        batches.append((x, ids[1]))
    return batches


def _train(jit_compile, batches):
    keras.utils.set_random_seed(3)
    model = tiny_transformer(VOCABULARY, dropout=0.1, activation_dropout=0.1)
    model.compile(
        optimizer=make_optimizer(TransformerSchedule(16, warmup_steps=4), clipnorm=1.0),
        loss=LabelSmoothedCrossEntropy(label_smoothing=0.1),
        metrics=[MaskedAccuracy()],
        jit_compile=jit_compile,
    )
    logs = [model.train_on_batch(x, y, return_dict=True) for x, y in batches]
    # The key bias is left out: softmax cancels it, so its gradient is
    # rounding noise, which Adam scales to full-size steps either way.
    weights = {
        w.path: keras.ops.convert_to_numpy(w)
        for w in model.weights
        if not w.path.endswith("key/bias")
    }
    return model, logs, weights


@torch_only
def test_compiled_train_step_trains_as_eager_training_does():
    import torch

    batches = _batches()
    torch._dynamo.reset()
    # reset() keeps the counters: graphs an earlier test in this process
    # compiled (the decoding step's, say) would count here.
    torch._dynamo.utils.counters.clear()
    model, compiled_logs, compiled_weights = _train(True, batches)
    # The first batch runs Keras' eager step; then the forward pass compiles
    # once per shape (2) and the update once: nothing breaks a graph.
    assert not torch._dynamo.utils.counters["graph_break"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 3
    _, eager_logs, eager_weights = _train(False, batches)
    # Dropout masks are a function of the seed state, so they are the eager
    # ones; the compiled kernels only reorder float32 sums.
    for compiled, eager in zip(compiled_logs, eager_logs, strict=True):
        assert compiled.keys() == eager.keys() == {"loss", "accuracy"}
        for name in compiled:
            np.testing.assert_allclose(compiled[name], eager[name], rtol=1e-5)
    assert compiled_weights.keys() == eager_weights.keys()
    for path, compiled in compiled_weights.items():
        np.testing.assert_allclose(
            compiled, eager_weights[path], rtol=1e-4, atol=1e-6, err_msg=path
        )

    # `fit` runs the same train function, with its callbacks and logs.
    x = {
        name: np.concatenate([b[0][name] for b in batches[:3]])
        for name in batches[0][0]
    }
    y = np.concatenate([b[1] for b in batches[:3]])
    history = model.fit(x, y, batch_size=3, epochs=2, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isfinite(history.history["loss"]).all()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 3
    assert not torch._dynamo.utils.counters["graph_break"]


def test_seeded_dropout_replays_its_mask_from_the_seed_state():
    layer = seeded_dropout(0.3, "dropout")
    x = keras.ops.ones((4, 50, 30))
    state = keras.ops.convert_to_numpy(layer.seed_generator.state)
    first = keras.ops.convert_to_numpy(layer(x, training=True))
    second = keras.ops.convert_to_numpy(layer(x, training=True))
    layer.seed_generator.state.assign(state)
    replayed = keras.ops.convert_to_numpy(layer(x, training=True))
    np.testing.assert_array_equal(first, replayed)
    assert (first != second).mean() > 0.3  # a fresh mask per call
    kept = first > 0
    # About 70% kept, scaled by 1 / 0.7; every row and feature drops some.
    assert 0.67 < kept.mean() < 0.73
    np.testing.assert_allclose(first[kept], 1 / 0.7, rtol=1e-6)
    assert kept.mean(axis=(0, 1)).min() > 0.5 and kept.mean(axis=(0, 1)).max() < 0.9
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), 1.0)


@torch_only
def test_guards_run_once_per_signature():
    import torch

    from keras_transformer.models.train_step_compiler import (
        GuardedOnce,
        call_signature,
    )

    torch._dynamo.reset()
    settings = {"scale": 2.0}
    scaled = GuardedOnce(lambda x: x * settings["scale"])
    small, large = torch.ones(2), torch.ones(3)
    assert scaled(small).tolist() == [2.0, 2.0]
    # As a function Keras traces on JAX or TensorFlow: once its signature
    # has been checked, a changed Python value is not seen...
    settings["scale"] = 3.0
    assert scaled(small).tolist() == [2.0, 2.0]
    # ...until a new signature compiles it again, with its guards.
    assert scaled(large).tolist() == [3.0, 3.0, 3.0]
    # Shapes, strides and dtypes tell signatures apart; values do not.
    assert call_signature((small,)) == call_signature((torch.zeros(2),))
    assert call_signature((small,)) != call_signature((small.double(),))
    square = torch.ones(2, 2)
    assert call_signature((square,)) != call_signature((square.t(),))
    assert call_signature((small, 1)) != call_signature((small, 2))
    assert call_signature({"a": small}) != call_signature({"b": small})
    assert call_signature([small]) != call_signature((small,))
