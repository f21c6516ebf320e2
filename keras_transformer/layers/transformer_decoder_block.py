"""One decoder layer: masked self-attention, cross-attention, feed-forward."""

import keras

from keras_transformer.layers.residual import sublayer_input, sublayer_output
from keras_transformer.layers.transformer_layer_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerDecoderBlock(TransformerBlockBase):
    """A decoder layer, Vaswani et al. 2017, §3.1 and §3.2.3.

    Causal (masked) multi-head self-attention, multi-head attention over the
    encoder output (queries from the decoder, keys and values from the
    encoder), and a position-wise feed-forward network, each wrapped in
    dropout, a residual connection and layer normalization.

    Incremental decoding: pass `self_attention_cache` (a `(keys, values)`
    pair of `(batch, num_heads, max_len, head_dim)`, see
    `MultiHeadAttention`) with `self_attention_cache_update_index` to run one
    or more new positions against the cached past, and `cross_attention_cache`
    (from `compute_cross_attention_cache`) to reuse the encoder keys/values
    (one row may serve consecutive decoder rows, the beams of a sentence:
    then `encoder_padding_mask` has its rows; `MultiHeadAttention`); the
    block then returns `(outputs, self_attention_cache,
    cross_attention_cache)`.

    Args:
        See `TransformerLayerBase`.

    Call arguments:
        decoder_sequence: `(batch, target_len, hidden_dim)`.
        encoder_sequence: `(batch, source_len, hidden_dim)`; may be `None`
            when `cross_attention_cache` is given.
        decoder_padding_mask: `(batch, target_len)` boolean, `False` at padding.
        encoder_padding_mask: `(batch, source_len)` boolean, `False` at padding.
        self_attention_cache, self_attention_cache_update_index,
        cross_attention_cache: see Incremental decoding.
        return_attention_scores: also return a dict with the weights
            `{"self_attention": ..., "cross_attention": ...}` (full pass only).
        training: whether dropout is active.

    Example:

    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    >>> block(keras.ops.zeros((2, 3, 8)), keras.ops.zeros((2, 5, 8))).shape
    (2, 3, 8)
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        hidden_dim = decoder_sequence_shape[-1]
        if encoder_sequence_shape is None:
            encoder_sequence_shape = decoder_sequence_shape
        self._build_self_attention(decoder_sequence_shape)
        self._cross_attention = self._make_attention(hidden_dim, "cross_attention")
        self._cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
        self._self_attention_layer_norm, self._self_attention_dropout = (
            self._residual_wrapping("self_attention", decoder_sequence_shape)
        )
        self._cross_attention_layer_norm, self._cross_attention_dropout = (
            self._residual_wrapping("cross_attention", decoder_sequence_shape)
        )
        self._build_feed_forward(decoder_sequence_shape)
        self.built = True

    @property
    def cross_attention(self):
        """The encoder-decoder attention sub-layer (`MultiHeadAttention`)."""
        return self._cross_attention

    @property
    def cross_attention_layer_norm(self):
        """The layer norm of the cross-attention sub-layer."""
        return self._cross_attention_layer_norm

    def compute_cross_attention_cache(self, encoder_sequence):
        """Cross-attention `(keys, values)`, each `(batch, num_heads,
        source_len, head_dim)`."""
        return self._cross_attention.compute_key_value_cache(encoder_sequence)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        return_attention_scores=False,
        training=None,
    ):
        use_cache = self_attention_cache is not None
        if use_cache and return_attention_scores:
            raise ValueError(
                "return_attention_scores is not available with a cache: run a "
                "full forward pass over the decoded tokens to get the weights."
            )
        if use_cache and self_attention_cache_update_index is None:
            raise ValueError(
                "self_attention_cache needs self_attention_cache_update_index, "
                "the position the new tokens are written at."
            )
        scores = {}

        # Masked self-attention (§3.2.3).
        x = sublayer_input(
            decoder_sequence, self._self_attention_layer_norm, self.normalize_first
        )
        attended = self._self_attention(
            x,
            x,
            value_mask=None if use_cache else decoder_padding_mask,
            use_causal_mask=True,
            cache=self_attention_cache,
            cache_update_index=self_attention_cache_update_index,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if use_cache:
            attended, self_attention_cache = attended
        elif return_attention_scores:
            attended, scores["self_attention"] = attended
        x = sublayer_output(
            decoder_sequence,
            attended,
            self._self_attention_layer_norm,
            self._self_attention_dropout,
            self.normalize_first,
            training,
        )

        # Encoder-decoder attention.
        residual = x
        x = sublayer_input(x, self._cross_attention_layer_norm, self.normalize_first)
        attended = self._cross_attention(
            x,
            encoder_sequence,
            value_mask=encoder_padding_mask,
            cache=cross_attention_cache,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if cross_attention_cache is not None:
            attended, cross_attention_cache = attended
        elif return_attention_scores:
            attended, scores["cross_attention"] = attended
        x = sublayer_output(
            residual,
            attended,
            self._cross_attention_layer_norm,
            self._cross_attention_dropout,
            self.normalize_first,
            training,
        )

        x = self._feed_forward_sublayer(x, training)
        if use_cache:
            return x, self_attention_cache, cross_attention_cache
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape
