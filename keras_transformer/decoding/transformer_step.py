"""The step callback of a search for a `Transformer`, and its cache.

`transformer_next_token_logits` runs the encoder once and computes every
decoder block's cross-attention keys and values once; each step then runs
the decoder on one position, writing its self-attention keys and values into
a cache of static shape at the step index
(`Transformer.decode_with_cache`).
"""

from keras import ops


def resize_self_attention_cache(cache, length):
    """Pads (with zeros) or cuts a `Transformer`'s self-attention cache
    `(batch, num_layers, 2, cache_len, num_heads, head_dim)` to `length`
    positions; a search's `resize_cache`."""
    current = cache.shape[3]
    if current == length:
        return cache
    if current > length:
        return cache[:, :, :, :length]
    padding = [[0, 0]] * 6
    padding[3] = [0, length - current]
    return ops.pad(cache, padding)


def transformer_next_token_logits(model, encoder_token_ids, max_length, num_beams=1):
    """The step callback and initial cache for decoding with a `Transformer`.

    The encoder runs here, once; so does the computation of every decoder
    block's cross-attention keys and values. With `num_beams > 1` both are
    repeated per beam (sentence-major).

    Args:
        model: a `keras_transformer.models.Transformer`.
        encoder_token_ids: `(batch, source_len)` int source ids, padded with
            `model.padding_id`.
        max_length: number of target positions the self-attention cache holds.
        num_beams: rows per sentence.

    Returns:
        `(next_token_logits, cache)` for `greedy_search` / `beam_search`.
    """
    encoder_padding_mask = ops.not_equal(encoder_token_ids, model.padding_id)
    encoder_output = model.encode(encoder_token_ids, encoder_padding_mask)
    cross_attention_cache = model.compute_cross_attention_cache(encoder_output)
    if num_beams > 1:
        cross_attention_cache = ops.repeat(cross_attention_cache, num_beams, axis=0)
        encoder_padding_mask = ops.repeat(encoder_padding_mask, num_beams, axis=0)
    batch_size = ops.shape(cross_attention_cache)[0]
    cache = model.initial_self_attention_cache(batch_size, max_length)

    def next_token_logits(token_ids, cache, index):
        logits, cache = model.decode_with_cache(
            ops.expand_dims(token_ids, 1),
            cache,
            cross_attention_cache,
            index,
            encoder_padding_mask,
        )
        return logits[:, 0, :], cache

    return next_token_logits, cache
