"""Position-wise feed-forward network."""

import keras

from keras_transformer.layers.dropout import seeded_dropout
from keras_transformer.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="keras_transformer")
class PositionwiseFeedForward(keras.layers.Layer):
    """`FFN(x) = max(0, x W1 + b1) W2 + b2`, Vaswani et al. 2017, §3.3, eq. 2.

    Two dense layers applied to each position separately: up to
    `intermediate_dim` (d_ff) with `activation`, back down to the input width.

    Args:
        intermediate_dim: inner width (d_ff; 2048 in the base model).
        activation: inner activation (ReLU in the paper).
        activation_dropout: dropout on the inner activations (0 in the paper;
            fairseq calls it `relu_dropout`).
        kernel_initializer: initializer of both kernels.
        bias_initializer: initializer of both biases.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, seq_len, hidden_dim)`.
        training: whether dropout is active.

    Example:

    >>> PositionwiseFeedForward(intermediate_dim=16)(keras.ops.zeros((2, 3, 4))).shape
    (2, 3, 4)
    """

    def __init__(
        self,
        intermediate_dim,
        activation="relu",
        activation_dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.intermediate_dim = intermediate_dim
        self.activation = keras.activations.get(activation)
        self.activation_dropout = activation_dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _dense(self, units, activation, name):
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        self._intermediate_dense = self._dense(
            self.intermediate_dim, self.activation, "intermediate_dense"
        )
        self._intermediate_dense.build(inputs_shape)
        self._activation_dropout = seeded_dropout(
            self.activation_dropout, "activation_dropout", self.dtype_policy
        )
        self._output_dense = self._dense(inputs_shape[-1], None, "output_dense")
        self._output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self.built = True

    def call(self, inputs, training=None):
        x = self._intermediate_dense(inputs)
        x = self._activation_dropout(x, training=training)
        return self._output_dense(x)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "activation_dropout": self.activation_dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
