import numpy as np
import pytest

from keras_transformer.layers import (
    LearnedPositionEmbedding,
    SinusoidalPositionEncoding,
)
from tests.harness import run_layer_test, to_numpy


def test_sinusoidal_matches_the_papers_formula():
    seq_len, dim = 11, 16
    encoded = to_numpy(
        SinusoidalPositionEncoding()(np.zeros((1, seq_len, dim), "float32"))
    )
    pos = np.arange(seq_len)[:, None]
    i = np.arange(dim // 2)[None, :]
    angle = pos / np.power(10000.0, 2 * i / dim)
    np.testing.assert_allclose(encoded[0, :, 0::2], np.sin(angle), atol=1e-5)
    np.testing.assert_allclose(encoded[0, :, 1::2], np.cos(angle), atol=1e-5)


def test_sinusoidal_start_index_continues_the_sequence():
    layer = SinusoidalPositionEncoding()
    full = to_numpy(layer(np.zeros((2, 9, 8), "float32")))
    step = to_numpy(layer(np.zeros((2, 1, 8), "float32"), start_index=6))
    np.testing.assert_allclose(step[:, 0], full[:, 6], atol=1e-6)


def test_sinusoidal_adds_to_inputs_and_rejects_odd_width(tmp_path):
    x = np.random.RandomState(0).randn(2, 4, 6).astype("float32")
    layer = SinusoidalPositionEncoding()
    np.testing.assert_allclose(
        to_numpy(layer(x)) - x, to_numpy(layer(np.zeros_like(x))), atol=1e-6
    )
    run_layer_test(
        SinusoidalPositionEncoding,
        {"max_wavelength": 100.0},
        {"inputs": x},
        x.shape,
        tmp_path,
        run_training=False,
    )
    with pytest.raises(ValueError, match="even"):
        SinusoidalPositionEncoding()(np.zeros((1, 2, 5), "float32"))


def test_learned_position_embedding(tmp_path):
    x = np.random.RandomState(0).randn(2, 4, 6).astype("float32")
    layer = run_layer_test(
        LearnedPositionEmbedding,
        {"max_sequence_length": 8},
        {"inputs": x},
        x.shape,
        tmp_path,
    )
    table = to_numpy(layer.position_embeddings)
    np.testing.assert_allclose(
        to_numpy(layer(x)) - x, np.broadcast_to(table[:4], x.shape), atol=1e-6
    )
    step = to_numpy(layer(x[:, :1], start_index=5))
    np.testing.assert_allclose(
        step[:, 0] - x[:, 0], np.broadcast_to(table[5], (2, 6)), atol=1e-6
    )
    with pytest.raises(ValueError, match="max_sequence_length"):
        layer(np.zeros((1, 9, 6), "float32"))
