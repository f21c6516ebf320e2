"""Token accuracy that ignores padding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class MaskedAccuracy(keras.metrics.Metric):
    """The fraction of non-padding target tokens predicted right.

    A token counts as right when the argmax of its logits equals its label.
    Tokens whose label is `padding_id` are left out, and a `sample_weight`
    (per token or per sequence) weighs the rest, so the result is
    `sum(w_i * right_i) / sum(w_i)` over every token seen since the last
    `reset_state()`: a token-level accuracy over all batches, not a mean of
    per-batch accuracies. It is the accuracy that label smoothing improves
    while it hurts perplexity (Vaswani et al. 2017, §5.4).

    Args:
        padding_id: the label that marks padding.
        name: the metric name.
        dtype: the dtype of the state variables and the result.

    Call arguments (`update_state`):
        y_true: integer labels `(batch, target_len)`.
        y_pred: logits or probabilities `(batch, target_len, vocabulary_size)`.
        sample_weight: optional weights `(batch, target_len)` or `(batch,)`.

    Returns:
        `result()`: a scalar in [0, 1]; 0 before any non-padding token.

    Example:

    >>> metric = MaskedAccuracy(padding_id=0)
    >>> logits = keras.ops.one_hot(keras.ops.array([[3, 4, 1]]), 5)
    >>> metric.update_state(keras.ops.array([[3, 2, 0]]), logits)
    >>> float(metric.result())
    0.5
    """

    def __init__(self, padding_id=0, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.padding_id = padding_id
        self.total = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="total"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", dtype=self.dtype, name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        labels = ops.cast(ops.convert_to_tensor(y_true), "int32")
        if len(labels.shape) == len(y_pred.shape):
            labels = ops.squeeze(labels, axis=-1)
        predictions = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        weights = ops.cast(ops.not_equal(labels, self.padding_id), self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            if len(sample_weight.shape) == len(weights.shape) + 1:
                sample_weight = ops.squeeze(sample_weight, axis=-1)
            while len(sample_weight.shape) < len(weights.shape):
                sample_weight = ops.expand_dims(sample_weight, axis=-1)
            weights = weights * sample_weight
        right = ops.cast(ops.equal(predictions, labels), self.dtype)
        self.total.assign_add(ops.sum(right * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        config = super().get_config()
        config["padding_id"] = self.padding_id
        return config
