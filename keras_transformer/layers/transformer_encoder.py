"""The encoder stack: N encoder blocks."""

import keras

from keras_transformer.layers.transformer_encoder_block import (
    TransformerEncoderBlock,
)
from keras_transformer.layers.transformer_layer_base import TransformerStackBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerEncoder(TransformerStackBase):
    """A stack of `num_layers` encoder blocks, Vaswani et al. 2017, §3.1.

    With `normalize_first=True` (pre-LN) a final layer normalization follows
    the last block, as pre-LN stacks need.

    Args:
        num_layers: number of blocks (N; 6 in the paper).
        Others: see `TransformerLayerBase`.

    Call arguments:
        inputs: embedded source `(batch, source_len, hidden_dim)`.
        padding_mask: `(batch, source_len)` boolean, `False` at padding.
        return_attention_scores: also return a list with each block's
            self-attention weights `(batch, num_heads, source_len, source_len)`.
        training: whether dropout is active.

    Example:

    >>> encoder = TransformerEncoder(num_layers=2, num_heads=2, intermediate_dim=16)
    >>> encoder(keras.ops.zeros((2, 3, 8))).shape
    (2, 3, 8)
    """

    block_class = TransformerEncoderBlock

    def build(self, inputs_shape):
        self._build_blocks(inputs_shape)

    def call(
        self, inputs, padding_mask=None, return_attention_scores=False, training=None
    ):
        return self._run_blocks(
            inputs,
            return_attention_scores,
            padding_mask=padding_mask,
            training=training,
        )

    def compute_output_shape(self, inputs_shape):
        return inputs_shape
