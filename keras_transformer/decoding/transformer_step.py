"""The step callback of a search for a `Transformer`, and its cache.

`transformer_search_context` runs the encoder once and computes every
decoder block's cross-attention keys and values once; each step
(`transformer_step_callback`) then runs the decoder on one position, writing
its self-attention keys and values into a cache of static shape at the step
index (`Transformer.decode_with_cache`). `transformer_next_token_logits`
gives both for `greedy_search` and `beam_search`.
"""

import keras
from keras import ops


def resize_self_attention_cache(cache, length):
    """Pads (with zeros) or cuts a `Transformer`'s self-attention cache (per
    block, `(keys, values)` of `(batch, num_heads, cache_len, head_dim)`) to
    `length` positions; a search's `resize_cache`."""

    def resize(x):
        current = x.shape[2]
        if current == length:
            return x
        if current > length:
            return x[:, :, :length]
        return ops.pad(x, [[0, 0], [0, 0], [0, length - current], [0, 0]])

    return keras.tree.map_structure(resize, cache)


def transformer_search_context(model, encoder_token_ids):
    """What every step of a search reads and none changes: the encoder's
    output as every decoder block's cross-attention keys and values, and the
    sources' padding mask, one row per sentence.

    The encoder runs here, once per search. The beams of a sentence (its
    consecutive rows of the self-attention cache) share its row: the
    cross-attention reads a sentence's keys and values once for all of its
    beams (`MultiHeadAttention`, Incremental decoding), where a copy per
    beam would read them `num_beams` times at every step.

    Returns:
        A dict: `cross_attention_cache` (`model.compute_cross_attention_cache`)
        and `encoder_padding_mask` `(batch, source_len)`.
    """
    encoder_padding_mask = ops.not_equal(encoder_token_ids, model.padding_id)
    encoder_output = model.encode(encoder_token_ids, encoder_padding_mask)
    return {
        "cross_attention_cache": model.compute_cross_attention_cache(encoder_output),
        "encoder_padding_mask": encoder_padding_mask,
    }


def transformer_step_callback(model, context):
    """A search's `next_token_logits` for a `Transformer`: the decoder on one
    position against the self-attention cache and `context`
    (`transformer_search_context`)."""

    def next_token_logits(token_ids, cache, index):
        logits, cache = model.decode_with_cache(
            ops.expand_dims(token_ids, 1),
            cache,
            context["cross_attention_cache"],
            index,
            context["encoder_padding_mask"],
        )
        return logits[:, 0, :], cache

    return next_token_logits


def transformer_next_token_logits(model, encoder_token_ids, max_length, num_beams=1):
    """The step callback and initial cache for decoding with a `Transformer`.

    The encoder runs here, once; so does the computation of every decoder
    block's cross-attention keys and values, one row per sentence, which the
    `num_beams` rows of its beams (sentence-major) share.

    Args:
        model: a `keras_transformer.models.Transformer`.
        encoder_token_ids: `(batch, source_len)` int source ids, padded with
            `model.padding_id`.
        max_length: number of target positions the self-attention cache holds.
        num_beams: rows per sentence.

    Returns:
        `(next_token_logits, cache)` for `greedy_search` / `beam_search`.
    """
    context = transformer_search_context(model, encoder_token_ids)
    rows = ops.shape(encoder_token_ids)[0] * num_beams
    cache = model.initial_self_attention_cache(rows, max_length)
    return transformer_step_callback(model, context), cache
