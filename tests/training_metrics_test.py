import keras
import numpy as np

from keras_transformer.training import MaskedAccuracy
from tests.harness import to_numpy

# Rows with 0, 2 and 3 padding tokens (id 0) at the end.
LABELS = np.array([[3, 1, 4, 1, 5], [2, 6, 5, 0, 0], [5, 3, 0, 0, 0]], "int32")
PREDICTED = np.array([[3, 2, 4, 1, 0], [2, 0, 5, 0, 1], [1, 1, 0, 6, 0]], "int32")


def logits_for(predicted, vocab=7):
    """Logits whose argmax is `predicted`."""
    noise = np.random.RandomState(0).uniform(0.0, 0.5, predicted.shape + (vocab,))
    return (noise + 2.0 * np.eye(vocab)[predicted]).astype("float32")


def test_fraction_of_non_padding_tokens():
    metric = MaskedAccuracy()
    assert metric.name == "accuracy"
    metric.update_state(LABELS, logits_for(PREDICTED))
    # Right, non-padding: 3, 4, 1 | 2, 5 | none  -> 5 of 10 tokens.
    np.testing.assert_allclose(to_numpy(metric.result()), 0.5)
    # Padding positions predicted as padding do not count as right.
    assert to_numpy(metric.result()) < ((LABELS == PREDICTED).mean())


def test_accumulates_tokens_over_batches_and_resets():
    metric = MaskedAccuracy()
    metric.update_state(LABELS[:1], logits_for(PREDICTED[:1]))  # 3 of 5
    metric.update_state(LABELS[1:], logits_for(PREDICTED[1:]))  # 2 of 5
    np.testing.assert_allclose(to_numpy(metric.result()), 0.5)
    metric.reset_state()
    assert float(to_numpy(metric.result())) == 0.0
    metric.update_state(LABELS[2:], logits_for(PREDICTED[2:]))  # 0 of 2
    metric.update_state(LABELS[:1], logits_for(PREDICTED[:1]))  # 3 of 5
    # Token-level: 3 / 7, not the mean of the batch accuracies (0.3).
    np.testing.assert_allclose(to_numpy(metric.result()), 3 / 7, rtol=1e-6)


def test_sample_weight_per_token_and_per_sentence():
    metric = MaskedAccuracy()
    weights = np.random.RandomState(1).uniform(0.5, 2.0, LABELS.shape)
    metric.update_state(LABELS, logits_for(PREDICTED), sample_weight=weights)
    mask = (LABELS != 0) * weights
    expected = ((LABELS == PREDICTED) * mask).sum() / mask.sum()
    np.testing.assert_allclose(to_numpy(metric.result()), expected, rtol=1e-6)

    metric.reset_state()
    metric.update_state(
        LABELS, logits_for(PREDICTED), sample_weight=np.array([0.0, 1.0, 1.0])
    )
    # Rows 2 and 3 only: 2 of their 5 tokens.
    np.testing.assert_allclose(to_numpy(metric.result()), 2 / 5, rtol=1e-6)


def test_other_padding_id_and_config_round_trip():
    metric = MaskedAccuracy(padding_id=5, name="token_accuracy")
    metric.update_state(LABELS, logits_for(PREDICTED))
    tokens = LABELS != 5
    expected = (LABELS == PREDICTED)[tokens].mean()
    np.testing.assert_allclose(to_numpy(metric.result()), expected, rtol=1e-6)
    config = metric.get_config()
    assert config["padding_id"] == 5 and config["name"] == "token_accuracy"
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric)
    )
    assert isinstance(revived, MaskedAccuracy)
    assert revived.get_config() == config
