"""Learned absolute position embedding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class LearnedPositionEmbedding(keras.layers.Layer):
    """Adds a trained embedding of each position (Vaswani et al. 2017, §3.5).

    The paper found learned positional embeddings "nearly identical" to the
    sinusoidal encoding (Table 3, row E). Unlike the sinusoid, they cannot
    go past `max_sequence_length`.

    Args:
        max_sequence_length: number of positions with an embedding.
        embeddings_initializer: initializer of the position table.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: embeddings `(batch, seq_len, hidden_dim)`.
        start_index: position of the first element (the cache index when
            decoding one token at a time). Int or scalar tensor.

    Returns:
        `inputs + table[start_index : start_index + seq_len]`.

    Example:

    >>> x = keras.ops.zeros((2, 3, 4))
    >>> LearnedPositionEmbedding(max_sequence_length=8)(x).shape
    (2, 3, 4)
    """

    def __init__(
        self, max_sequence_length, embeddings_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(**kwargs)
        if max_sequence_length < 1:
            raise ValueError(
                f"max_sequence_length must be >= 1. Received: {max_sequence_length}."
            )
        self.max_sequence_length = max_sequence_length
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, inputs_shape):
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_sequence_length, inputs_shape[-1]),
            initializer=self.embeddings_initializer,
        )
        self.built = True

    def call(self, inputs, start_index=0):
        seq_len = inputs.shape[1]
        if seq_len is not None and seq_len > self.max_sequence_length:
            raise ValueError(
                f"Sequence length {seq_len} exceeds max_sequence_length="
                f"{self.max_sequence_length} of {self.name}. Truncate the "
                "inputs or build the model with a larger max_sequence_length."
            )
        hidden_dim = inputs.shape[-1]
        positions = ops.slice(
            ops.convert_to_tensor(self.position_embeddings),
            (start_index, 0),
            (ops.shape(inputs)[1], hidden_dim),
        )
        return inputs + ops.cast(positions, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_sequence_length": self.max_sequence_length,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
