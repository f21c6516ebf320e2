"""Keras' `fit` honours each hook of keras_transformer.fit_hooks.

These pin down what the package relies on in Keras' trainers, on every
backend: if a Keras release changes one, the test of that hook fails here,
naming it, before the backups or the distributed runs that use it misbehave.
"""

import keras
import numpy as np
import pytest

from keras_transformer.fit_hooks import (
    set_initial_epoch,
    skip_train_steps,
    stop_skipping,
    sum_gradients_before_apply,
    use_global_batch_means,
)
from keras_transformer.training.losses import LabelSmoothedCrossEntropy

VOCABULARY, LENGTH, ROWS, BATCH = 11, 5, 8, 2  # 4 batches


def _data():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, VOCABULARY, (ROWS, LENGTH)).astype("int32")
    labels = np.roll(tokens, 1, axis=1)
    labels[::2, -2:] = 0  # padding, which the loss leaves out
    return tokens, labels


def _model(optimizer="adam", loss=None):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((LENGTH,), dtype="int32"),
            keras.layers.Embedding(VOCABULARY, 8),
            keras.layers.Dense(VOCABULARY),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=loss or LabelSmoothedCrossEntropy(label_smoothing=0.0),
        metrics=["accuracy"],
    )
    return model


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


def test_fit_starts_at_the_initial_epoch_set_in_on_train_begin():
    class StartAtTwo(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            set_initial_epoch(self.model, 2)

        def on_epoch_begin(self, epoch, logs=None):
            set_initial_epoch(self.model, None)

    tokens, labels = _data()
    history = _model().fit(
        tokens, labels, batch_size=BATCH, epochs=4, callbacks=[StartAtTwo()], verbose=0
    )
    assert history.epoch == [2, 3]


def test_skipped_train_steps_pass_over_their_batches_untrained():
    class SkipTwo(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            skip_train_steps(self.model, 2)

    tokens, labels = _data()
    skipping = _model()
    skipping.fit(
        tokens,
        labels,
        batch_size=BATCH,
        shuffle=False,
        callbacks=[SkipTwo()],
        verbose=0,
    )
    stop_skipping(skipping)
    # The same model trained on the last two batches alone.
    expected = _model()
    expected.fit(
        tokens[2 * BATCH :],
        labels[2 * BATCH :],
        batch_size=BATCH,
        shuffle=False,
        verbose=0,
    )
    assert int(keras.ops.convert_to_numpy(skipping.optimizer.iterations)) == 2
    for actual, wanted in zip(_weights(skipping), _weights(expected), strict=True):
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-6)


def test_the_train_step_takes_its_loss_and_logs_through_the_hooks():
    """Two identical replicas (sums are doubles): the global batch's token
    mean and metrics are the local ones, and both hooks ran."""
    calls = []

    def sum_of_two_replicas(tensors):
        calls.append(len(tensors))
        return [2 * keras.ops.convert_to_tensor(t) for t in tensors]

    tokens, labels = _data()
    plain = _model()
    plain_logs = plain.evaluate(tokens, labels, batch_size=ROWS, verbose=0)
    hooked = _model()
    use_global_batch_means(hooked, sum_of_two_replicas)
    history = hooked.fit(
        tokens, labels, batch_size=ROWS, epochs=1, shuffle=False, verbose=0
    )
    assert 2 in calls, "fit did not compute the loss through model.compute_loss"
    metric_states = sum(len(m.variables) for m in hooked.metrics)
    assert metric_states in calls, "fit did not log through get_metrics_result"
    # One step from the same weights: the logged loss and accuracy are those
    # of the batch before the update.
    np.testing.assert_allclose(history.history["loss"][0], plain_logs[0], rtol=1e-5)
    np.testing.assert_allclose(history.history["accuracy"][0], plain_logs[1], rtol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="only PyTorch's strategy sums gradients in optimizer.apply",
)
def test_gradients_pass_through_the_sum_before_the_optimizer_applies_them():
    tokens, labels = _data()
    plain = _model(optimizer=keras.optimizers.SGD(0.1))
    start = _weights(plain)
    plain.fit(tokens, labels, batch_size=ROWS, verbose=0)
    doubled = _model(optimizer=keras.optimizers.SGD(0.1))
    sum_gradients_before_apply(
        doubled.optimizer, lambda gradients, variables: [2 * g for g in gradients]
    )
    doubled.fit(tokens, labels, batch_size=ROWS, verbose=0)
    for before, one, two in zip(start, _weights(plain), _weights(doubled), strict=True):
        np.testing.assert_allclose(two - before, 2 * (one - before), atol=1e-6)
