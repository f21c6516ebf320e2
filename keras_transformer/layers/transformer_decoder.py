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

    Incremental decoding: a cache is a list with one `(keys, values)` pair
    per block, each tensor `(batch, num_heads, length, head_dim)`
    (`MultiHeadAttention`); separate tensors let a compiled step update and
    read each in place. `compute_cross_attention_cache(encoder_sequence)`
    gives the encoder keys/values (length `source_len`) once per source (one
    row may serve consecutive decoder rows, the beams of a sentence: then
    `encoder_padding_mask` has its rows; `MultiHeadAttention`);
    `initial_self_attention_cache(batch_size, max_length)` gives the zeroed
    self-attention cache (length `max_length`). Calling with both caches and
    `cache_update_index` returns `(outputs, self_attention_cache)`. The shapes
    never change, so a compiled decoding loop does not retrace.

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
        """Encoder `(keys, values)` of every block, a list."""
        return [
            block.compute_cross_attention_cache(encoder_sequence)
            for block in self._blocks
        ]

    # The caches are lists of pairs, not tuples of pairs: tracing a call
    # whose arguments nest a tuple in a tuple, torch.compile stops at Keras'
    # flattening of them (it cannot compare two tuples by identity).
    def initial_self_attention_cache(self, batch_size, max_length):
        """A zeroed self-attention cache for `max_length` target positions."""
        value_dim = self.hidden_dim // self.num_heads
        key_dim = self.key_dim or value_dim
        return [
            tuple(
                ops.zeros(
                    (batch_size, self.num_heads, max_length, head_dim),
                    dtype=self.compute_dtype,
                )
                for head_dim in (key_dim, value_dim)
            )
            for _ in range(self.num_layers)
        ]

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
        for name, cache in (
            ("self_attention_cache", self_attention_cache),
            ("cross_attention_cache", cross_attention_cache),
        ):
            if not isinstance(cache, (list, tuple)) or len(cache) != self.num_layers:
                found = (
                    f"{len(cache)} items"
                    if isinstance(cache, (list, tuple))
                    else f"a {type(cache).__name__}"
                )
                raise ValueError(
                    f"{self.name}: {name} must be a list with one (keys, values) "
                    f"pair per block ({self.num_layers}), as "
                    f"initial_self_attention_cache and compute_cross_attention_cache "
                    f"give; received {found}."
                )
        x = decoder_sequence
        updated_caches = []
        for block, block_cache, block_cross_cache in zip(
            self._blocks, self_attention_cache, cross_attention_cache, strict=True
        ):
            x, block_cache, _ = block(
                x,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=block_cache,
                self_attention_cache_update_index=cache_update_index,
                cross_attention_cache=block_cross_cache,
            )
            updated_caches.append(block_cache)
        return self.normalize_output(x), updated_caches

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape
