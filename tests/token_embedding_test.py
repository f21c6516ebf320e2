import keras
import numpy as np

from keras_transformer.layers import TokenEmbedding
from tests.harness import dtype_name, run_layer_test, to_numpy


def test_basics(tmp_path):
    ids = np.array([[1, 2, 3, 0], [4, 5, 0, 0]], "int32")
    run_layer_test(
        TokenEmbedding,
        {"vocabulary_size": 10, "hidden_dim": 8},
        {"inputs": ids},
        (2, 4, 8),
        tmp_path,
        run_training=False,
    )


def test_lookup_is_scaled_by_sqrt_d_model_and_reverse_is_tied():
    layer = TokenEmbedding(vocabulary_size=10, hidden_dim=16)
    ids = np.array([[1, 7]], "int32")
    looked_up = to_numpy(layer(ids))
    table = to_numpy(layer.embeddings)
    np.testing.assert_allclose(looked_up[0], table[[1, 7]] * 4.0, rtol=1e-6)
    hidden = np.random.RandomState(0).randn(1, 3, 16).astype("float32")
    logits = layer(hidden, reverse=True)
    assert dtype_name(logits) == "float32"
    np.testing.assert_allclose(to_numpy(logits), hidden @ table.T, rtol=1e-5, atol=1e-5)


def test_reverse_projection_runs_in_the_compute_dtype():
    # Keras' embeddings are not autocast: without a cast, bfloat16 hidden
    # states times the float32 matrix is a float32 product, the costliest
    # matrix product of a mixed-precision training step.
    layer = TokenEmbedding(vocabulary_size=300, hidden_dim=16, dtype="mixed_bfloat16")
    hidden = np.random.RandomState(1).randn(2, 3, 16).astype("float32")
    logits = layer(hidden, reverse=True)
    assert dtype_name(logits) == "float32"
    logits = to_numpy(logits)
    # bfloat16 logits: every value survives a round trip through bfloat16.
    rounded = keras.ops.cast(keras.ops.cast(logits, "bfloat16"), "float32")
    np.testing.assert_array_equal(logits, to_numpy(rounded))
    table = to_numpy(keras.ops.cast(layer.embeddings, "float32"))
    np.testing.assert_allclose(logits, hidden @ table.T, rtol=2**-6, atol=0.05)


def test_untied_reverse_uses_its_own_matrix():
    layer = TokenEmbedding(vocabulary_size=10, hidden_dim=4, tie_weights=False)
    layer.build()
    assert len(layer.trainable_weights) == 2
    hidden = np.ones((1, 1, 4), "float32")
    np.testing.assert_allclose(
        to_numpy(layer(hidden, reverse=True))[0, 0],
        to_numpy(layer.reverse_embeddings).sum(0),
        rtol=1e-5,
    )


def test_default_initializer_has_stddev_inverse_sqrt_dim():
    layer = TokenEmbedding(vocabulary_size=2000, hidden_dim=64)
    layer.build()
    assert abs(to_numpy(layer.embeddings).std() - 64**-0.5) < 0.01
