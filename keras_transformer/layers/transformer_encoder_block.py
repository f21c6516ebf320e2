"""One encoder layer: self-attention and feed-forward."""

import keras

from keras_transformer.layers.residual import sublayer_input, sublayer_output
from keras_transformer.layers.transformer_layer_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerEncoderBlock(TransformerBlockBase):
    """An encoder layer, Vaswani et al. 2017, §3.1.

    Multi-head self-attention, then a position-wise feed-forward network,
    each wrapped in dropout, a residual connection and layer normalization
    (post-LN as in the paper, or pre-LN with `normalize_first=True`).

    Args:
        See `TransformerLayerBase`: `num_heads`, `intermediate_dim`,
        `dropout`, `attention_dropout`, `activation_dropout`, `activation`,
        `layer_norm_epsilon`, `normalize_first`, `use_fused_attention`,
        `kernel_initializer`, `bias_initializer`.

    Call arguments:
        inputs: `(batch, seq_len, hidden_dim)`.
        padding_mask: `(batch, seq_len)` boolean, `False` at padding. Padded
            positions are never attended to.
        attention_mask: optional `(batch, seq_len, seq_len)` boolean mask.
        return_attention_scores: also return the self-attention weights
            `(batch, num_heads, seq_len, seq_len)`.
        training: whether dropout is active.

    Example:

    >>> block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    >>> block(keras.ops.zeros((2, 3, 8))).shape
    (2, 3, 8)
    """

    def build(self, inputs_shape):
        self._build_self_attention(inputs_shape)
        self._self_attention_layer_norm, self._self_attention_dropout = (
            self._residual_wrapping("self_attention", inputs_shape)
        )
        self._build_feed_forward(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        x = sublayer_input(
            inputs, self._self_attention_layer_norm, self.normalize_first
        )
        attended = self._self_attention(
            x,
            x,
            value_mask=padding_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            attended, scores = attended
        x = sublayer_output(
            inputs,
            attended,
            self._self_attention_layer_norm,
            self._self_attention_dropout,
            self.normalize_first,
            training,
        )
        x = self._feed_forward_sublayer(x, training)
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape
