"""The decoder stack: N decoder blocks, with a per-layer key/value cache."""

import keras
from keras import ops

from keras_transformer.layers.transformer_decoder_block import (
    TransformerDecoderBlock,
)
from keras_transformer.layers.transformer_layer_base import TransformerStackBase


@keras.saving.register_keras_serializable(package="keras_transformer")
class TransformerDecoder(TransformerStackBase):
    """A stack of `num_layers` decoder blocks, Vaswani et al. 2017, §3.1.

    With `normalize_first=True` (pre-LN) a final layer normalization follows
    the last block.

    Incremental decoding: the caches of all blocks are stacked on axis 1.
    `compute_cross_attention_cache(encoder_sequence)` gives the encoder
    keys/values, `(batch, num_layers, 2, source_len, num_heads, head_dim)`,
    once per source; `initial_self_attention_cache(batch_size, max_length)`
    gives the zeroed self-attention cache `(batch, num_layers, 2, max_length,
    num_heads, head_dim)`. Calling with both caches and `cache_update_index`
    returns `(outputs, self_attention_cache)`. The shapes never change, so a
    compiled decoding loop does not retrace.

    Args:
        num_layers: number of blocks (N; 6 in the paper).
        Others: see `TransformerLayerBase`.

    Call arguments:
        decoder_sequence: embedded target `(batch, target_len, hidden_dim)`.
        encoder_sequence: encoder output `(batch, source_len, hidden_dim)`;
            unused when `cross_attention_cache` is given.
        decoder_padding_mask: `(batch, target_len)` boolean, `False` at padding.
        encoder_padding_mask: `(batch, source_len)` boolean, `False` at padding.
        self_attention_cache, cross_attention_cache, cache_update_index: see
            Incremental decoding.
        return_attention_scores: also return a list with each block's dict
            of weights (full pass only).
        training: whether dropout is active.

    Example:

    >>> decoder = TransformerDecoder(num_layers=2, num_heads=2, intermediate_dim=16)
    >>> decoder(keras.ops.zeros((2, 3, 8)), keras.ops.zeros((2, 5, 8))).shape
    (2, 3, 8)
    """

    block_class = TransformerDecoderBlock

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self.hidden_dim = decoder_sequence_shape[-1]
        self._build_blocks(decoder_sequence_shape, encoder_sequence_shape)

    def compute_cross_attention_cache(self, encoder_sequence):
        """Encoder keys/values of every block, stacked on axis 1."""
        return ops.stack(
            [
                block.compute_cross_attention_cache(encoder_sequence)
                for block in self._blocks
            ],
            axis=1,
        )

    def initial_self_attention_cache(self, batch_size, max_length):
        """A zeroed self-attention cache for `max_length` target positions."""
        head_dim = self.hidden_dim // self.num_heads
        head_dim = max(head_dim, self.key_dim or head_dim)  # cache_head_dim
        shape = (batch_size, self.num_layers, 2, max_length, self.num_heads, head_dim)
        return ops.zeros(shape, dtype=self.compute_dtype)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        self_attention_cache=None,
        cross_attention_cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        if self_attention_cache is not None:
            return self._call_with_cache(
                decoder_sequence,
                encoder_sequence,
                encoder_padding_mask,
                self_attention_cache,
                cross_attention_cache,
                cache_update_index,
            )
        return self._run_blocks(
            decoder_sequence,
            return_attention_scores,
            encoder_sequence=encoder_sequence,
            decoder_padding_mask=decoder_padding_mask,
            encoder_padding_mask=encoder_padding_mask,
            training=training,
        )

    def _call_with_cache(
        self,
        decoder_sequence,
        encoder_sequence,
        encoder_padding_mask,
        self_attention_cache,
        cross_attention_cache,
        cache_update_index,
    ):
        if cross_attention_cache is None:
            cross_attention_cache = self.compute_cross_attention_cache(encoder_sequence)
        x = decoder_sequence
        updated_caches = []
        for index, block in enumerate(self._blocks):
            x, layer_cache, _ = block(
                x,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=self_attention_cache[:, index],
                self_attention_cache_update_index=cache_update_index,
                cross_attention_cache=cross_attention_cache[:, index],
            )
            updated_caches.append(layer_cache)
        return self.normalize_output(x), ops.stack(updated_caches, axis=1)

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape
