"""Label-smoothed cross entropy over target tokens, padding excluded."""

import keras
from keras import ops

TOKEN_MEAN = "mean_with_sample_weight"


@keras.saving.register_keras_serializable(package="keras_transformer")
class LabelSmoothedCrossEntropy(keras.losses.Loss):
    """Cross entropy with label smoothing (Vaswani et al. 2017, §5.4).

    For a token with label `y` and log-probabilities `log p = log_softmax(z)`
    over a vocabulary of `V` entries, with `ε = label_smoothing`:

        loss = (1 - ε) * -log p(y) + ε * mean_v(-log p(v))

    which is the cross entropy against the target distribution
    `(1 - ε) * one_hot(y) + ε / V`: the uniform `ε / V` goes to every entry,
    the label included. This is fairseq's original
    `label_smoothed_cross_entropy` and Keras' `label_smoothing`; later fairseq
    versions spread `ε` over the `V - 1` other entries instead.

    Tokens whose label is `padding_id` contribute nothing. With the default
    reduction the loss is the mean over the batch's non-padding tokens:
    `sum(w_i * loss_i) / sum(w_i)`, where `w_i` is 0 at padding and
    otherwise the token's `sample_weight` (1 without one). A 0/1 per-token
    `sample_weight` with zeros at padding, as the data pipeline passes to
    `fit`, gives the same token mean as labels alone. (Keras' default
    `"sum_over_batch_size"` would divide by `batch * target_len`, padding
    included, so the loss would depend on how much padding a batch has.)

    The logits are cast to float32 before the softmax, so logits in float16
    or bfloat16 (mixed precision) cannot overflow.

    Args:
        label_smoothing: ε, the probability mass spread over the vocabulary
            (0.1 in the paper).
        padding_id: the label that marks padding.
        reduction: `"mean_with_sample_weight"` (the token mean above), or
            another Keras reduction: `None` returns the per-token losses
            `(batch, target_len)`, zero at padding.
        name: the loss name.

    Call arguments:
        y_true: integer labels `(batch, target_len)`.
        y_pred: logits `(batch, target_len, vocabulary_size)`.
        sample_weight: optional weights `(batch, target_len)` or `(batch,)`.

    Returns:
        A float32 scalar (the per-token losses with `reduction=None`).

    Example:

    >>> loss = LabelSmoothedCrossEntropy(label_smoothing=0.1, padding_id=0)
    >>> labels = keras.ops.array([[5, 6, 0]])
    >>> logits = keras.ops.zeros((1, 3, 10))
    >>> round(float(loss(labels, logits)), 4)  # uniform logits: log(10)
    2.3026
    """

    def __init__(
        self,
        label_smoothing=0.1,
        padding_id=0,
        reduction=TOKEN_MEAN,
        name="label_smoothed_cross_entropy",
    ):
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "label_smoothing must be in [0, 1). "
                f"Received: label_smoothing={label_smoothing}."
            )
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.label_smoothing = label_smoothing
        self.padding_id = padding_id

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras' reduction divides by `sum(sample_weight)` only when it has
        # one, so the padding mask always becomes (part of) the weight.
        labels = _squeeze_labels(ops.convert_to_tensor(y_true), y_pred)
        weights = ops.cast(ops.not_equal(labels, self.padding_id), "float32")
        if sample_weight is not None:
            weights = weights * _broadcast_weight(sample_weight, weights)
        return super().__call__(labels, y_pred, sample_weight=weights)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        # `Loss.__call__` converts the labels to the loss dtype (float32).
        labels = ops.cast(_squeeze_labels(y_true, logits), "int32")
        is_token = ops.not_equal(labels, self.padding_id)
        log_probs = ops.log_softmax(logits, axis=-1)  # (B, T, V)
        # Padding may be an id outside the vocabulary (-100): gather at 0.
        safe_labels = ops.where(is_token, labels, 0)
        nll = -ops.squeeze(
            ops.take_along_axis(log_probs, safe_labels[..., None], axis=-1),
            axis=-1,
        )  # (B, T)
        smooth = -ops.mean(log_probs, axis=-1)  # (B, T)
        eps = self.label_smoothing
        losses = (1.0 - eps) * nll + eps * smooth
        return ops.where(is_token, losses, 0.0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"label_smoothing": self.label_smoothing, "padding_id": self.padding_id}
        )
        return config


def _squeeze_labels(labels, logits):
    """`(batch, target_len, 1)` labels to `(batch, target_len)`."""
    if len(labels.shape) == len(logits.shape):
        return ops.squeeze(labels, axis=-1)
    return labels


def _broadcast_weight(sample_weight, token_weights):
    """Per-token `(B, T)`, `(B, T, 1)` or per-sequence `(B,)` weights to
    `(B, T)`."""
    sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    rank = len(token_weights.shape)
    if len(sample_weight.shape) == rank + 1:
        sample_weight = ops.squeeze(sample_weight, axis=-1)
    while len(sample_weight.shape) < rank:
        sample_weight = ops.expand_dims(sample_weight, axis=-1)
    return sample_weight
