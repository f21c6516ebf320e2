import numpy as np

from keras_transformer.layers import PositionwiseFeedForward
from tests.harness import run_layer_test, to_numpy


def test_basics(tmp_path):
    x = np.random.RandomState(0).randn(2, 3, 8).astype("float32")
    run_layer_test(
        PositionwiseFeedForward,
        {"intermediate_dim": 16, "activation": "relu", "activation_dropout": 0.1},
        {"inputs": x},
        (2, 3, 8),
        tmp_path,
    )


def test_equals_max_0_xw1_b1_w2_b2():
    x = np.random.RandomState(0).randn(2, 3, 8).astype("float32")
    layer = PositionwiseFeedForward(
        intermediate_dim=16, bias_initializer="random_normal"
    )
    outputs = to_numpy(layer(x))
    w1, b1 = (to_numpy(w) for w in layer._intermediate_dense.weights)
    w2, b2 = (to_numpy(w) for w in layer._output_dense.weights)
    np.testing.assert_allclose(outputs, np.maximum(0, x @ w1 + b1) @ w2 + b2, atol=1e-5)
