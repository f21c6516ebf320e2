import keras
import numpy as np
import pytest

from keras_transformer.models.transformer import Transformer
from keras_transformer.training import (
    LabelSmoothedCrossEntropy,
    MaskedAccuracy,
    make_optimizer,
)
from tests.harness import dtype_name, to_numpy

VOCAB = 7
# Rows with 0, 2 and 3 padding tokens (id 0) at the end.
LABELS = np.array(
    [[3, 1, 4, 1, 5], [2, 6, 5, 0, 0], [5, 3, 0, 0, 0]],
    dtype="int32",
)
LOGITS = np.random.RandomState(0).randn(3, 5, VOCAB).astype("float32") * 3.0


def hand_token_losses(labels, logits, eps):
    """Cross entropy against `(1 - eps) * one_hot + eps / V`, token by token."""
    vocab = logits.shape[-1]
    losses = np.zeros(labels.shape)
    for b, t in np.ndindex(*labels.shape):
        if not 0 <= labels[b, t] < vocab:
            continue  # padding outside the vocabulary (-100)
        z = logits[b, t].astype("float64")
        log_p = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
        target = np.full(vocab, eps / vocab)
        target[labels[b, t]] += 1.0 - eps
        losses[b, t] = -(target * log_p).sum()
    return losses


def hand_mean(labels, logits, eps, weights=None, padding_id=0):
    """sum(w * loss) / sum(w) over the non-padding tokens."""
    losses = hand_token_losses(labels, logits, eps)
    total, count = 0.0, 0.0
    for b, t in np.ndindex(*labels.shape):
        if labels[b, t] == padding_id:
            continue
        w = 1.0 if weights is None else weights[b, t]
        total += w * losses[b, t]
        count += w
    return total / count


@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_token_mean_without_sample_weight(eps):
    value = LabelSmoothedCrossEntropy(label_smoothing=eps)(LABELS, LOGITS)
    assert dtype_name(value) == "float32"
    expected = hand_mean(LABELS, LOGITS, eps)
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-5)
    # A token mean, not a mean of per-sentence means nor padding-diluted.
    per_token = hand_token_losses(LABELS, LOGITS, eps) * (LABELS != 0)
    sentence_means = per_token.sum(1) / (LABELS != 0).sum(1)
    assert not np.isclose(expected, sentence_means.mean(), rtol=1e-3)
    assert not np.isclose(expected, per_token.mean(), rtol=1e-3)


def test_binary_sample_weight_gives_the_same_token_mean():
    loss = LabelSmoothedCrossEntropy()
    weights = (LABELS != 0).astype("float32")  # what the pipeline passes
    np.testing.assert_allclose(
        to_numpy(loss(LABELS, LOGITS, sample_weight=weights)),
        hand_mean(LABELS, LOGITS, 0.1),
        rtol=1e-5,
    )
    # All-ones weights too: padding stays out.
    np.testing.assert_allclose(
        to_numpy(loss(LABELS, LOGITS, sample_weight=np.ones_like(weights))),
        hand_mean(LABELS, LOGITS, 0.1),
        rtol=1e-5,
    )


def test_real_valued_and_per_sentence_sample_weights():
    loss = LabelSmoothedCrossEntropy()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, LABELS.shape)
    np.testing.assert_allclose(
        to_numpy(loss(LABELS, LOGITS, sample_weight=weights.astype("float32"))),
        hand_mean(LABELS, LOGITS, 0.1, weights),
        rtol=1e-5,
    )
    per_sentence = np.array([1.0, 0.0, 2.0], "float32")
    np.testing.assert_allclose(
        to_numpy(loss(LABELS, LOGITS, sample_weight=per_sentence)),
        hand_mean(LABELS, LOGITS, 0.1, np.repeat(per_sentence[:, None], 5, 1)),
        rtol=1e-5,
    )


def test_per_token_losses_are_zero_at_padding():
    losses = to_numpy(LabelSmoothedCrossEntropy(reduction=None)(LABELS, LOGITS))
    assert losses.shape == LABELS.shape
    expected = hand_token_losses(LABELS, LOGITS, 0.1) * (LABELS != 0)
    np.testing.assert_allclose(losses, expected, rtol=1e-5, atol=1e-6)


def test_other_padding_id_and_all_padding():
    labels = np.where(LABELS == 0, -100, LABELS)
    loss = LabelSmoothedCrossEntropy(padding_id=-100)
    np.testing.assert_allclose(
        to_numpy(loss(labels, LOGITS)),
        hand_mean(labels, LOGITS, 0.1, padding_id=-100),
        rtol=1e-5,
    )
    all_padding = np.zeros_like(LABELS)
    assert float(to_numpy(LabelSmoothedCrossEntropy()(all_padding, LOGITS))) == 0.0


def test_no_smoothing_equals_sparse_crossentropy_on_tokens():
    tokens = LABELS != 0
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        to_numpy(LabelSmoothedCrossEntropy(label_smoothing=0.0)(LABELS, LOGITS)),
        to_numpy(sparse(LABELS[tokens], LOGITS[tokens])),
        rtol=1e-5,
    )


def test_smoothing_equals_keras_label_smoothing_on_tokens():
    tokens = LABELS != 0
    dense = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    one_hot = np.eye(VOCAB, dtype="float32")[LABELS[tokens]]
    np.testing.assert_allclose(
        to_numpy(LabelSmoothedCrossEntropy()(LABELS, LOGITS)),
        to_numpy(dense(one_hot, LOGITS[tokens])),
        rtol=1e-5,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_are_computed_in_float32(dtype):
    # Logits whose exponentials overflow float16.
    logits = keras.ops.cast(LOGITS * 10.0, dtype)
    rounded = to_numpy(keras.ops.cast(logits, "float32"))
    value = LabelSmoothedCrossEntropy()(LABELS, logits)
    assert dtype_name(value) == "float32"
    assert np.isfinite(to_numpy(value))
    np.testing.assert_allclose(
        to_numpy(value), hand_mean(LABELS, rounded, 0.1), rtol=1e-5
    )


def test_config_round_trip_and_bad_smoothing():
    loss = LabelSmoothedCrossEntropy(label_smoothing=0.2, padding_id=3)
    config = loss.get_config()
    assert config["label_smoothing"] == 0.2 and config["padding_id"] == 3
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss)
    )
    assert isinstance(revived, LabelSmoothedCrossEntropy)
    assert revived.get_config() == config
    with pytest.raises(ValueError, match="label_smoothing"):
        LabelSmoothedCrossEntropy(label_smoothing=1.0)


def _tiny_batch():
    rng = np.random.RandomState(2)
    encoder = rng.randint(1, 20, (3, 6)).astype("int32")
    encoder[1, 4:] = 0
    decoder_in = np.array(
        [[1, 5, 6, 7, 8], [1, 9, 3, 0, 0], [1, 4, 0, 0, 0]], dtype="int32"
    )
    labels = np.array(
        [[5, 6, 7, 8, 2], [9, 3, 2, 0, 0], [4, 2, 0, 0, 0]], dtype="int32"
    )
    inputs = {"encoder_token_ids": encoder, "decoder_token_ids": decoder_in}
    return inputs, labels


def _tiny_transformer():
    model = Transformer(
        vocabulary_size=20, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
    )
    model.compile(
        optimizer=make_optimizer(1e-2),
        loss=LabelSmoothedCrossEntropy(),
        metrics=[MaskedAccuracy()],
    )
    return model


def test_compiled_loss_is_the_token_mean():
    inputs, labels = _tiny_batch()
    model = _tiny_transformer()
    logits = to_numpy(model(inputs, training=False))
    tokens = labels != 0
    for weights in [None, tokens.astype("float32")]:
        result = model.evaluate(
            inputs,
            labels,
            sample_weight=weights,
            batch_size=3,
            verbose=0,
            return_dict=True,
        )
        np.testing.assert_allclose(
            result["loss"], hand_mean(labels, logits, 0.1), rtol=1e-4
        )
        np.testing.assert_allclose(
            result["accuracy"],
            (logits.argmax(-1) == labels)[tokens].mean(),
            rtol=1e-6,
        )

    before = [to_numpy(w).copy() for w in model.trainable_weights]
    history = model.fit(
        inputs,
        labels,
        sample_weight=tokens.astype("float32"),
        batch_size=3,
        epochs=1,
        verbose=0,
    )
    assert np.isfinite(history.history["loss"][0])
    for old, new in zip(before, model.trainable_weights, strict=True):
        assert not np.allclose(old, to_numpy(new)), f"{new.path} did not train"
