"""Attention masks: padding, causal, and their combination.

Every mask here is boolean with `True` meaning "may attend", the convention of
`keras.ops.dot_product_attention` and `keras.layers.MultiHeadAttention`.
Shapes are `(batch, target_len, source_len)`; the attention layer adds the head
axis. Vaswani et al. 2017, §3.2.3: the decoder's self-attention masks out
(sets to -inf before the softmax) every position to the right of the query.
"""

from keras import ops


def compute_padding_mask(token_ids, padding_id=0):
    """Returns `token_ids != padding_id` as a boolean mask `(batch, seq_len)`."""
    return ops.not_equal(token_ids, padding_id)


def compute_causal_mask(batch_size, query_length, key_length, query_offset=0):
    """Lower-triangular mask: query position `i` may attend key `j <= i + offset`.

    Args:
        batch_size: leading dimension of the result.
        query_length: number of query positions `T`.
        key_length: number of key positions `S`.
        query_offset: absolute position of the first query. It is the cache
            index during incremental decoding, where `T` new queries attend a
            cache of `S` slots of which only the first `offset + T` are filled.
            May be a scalar tensor.

    Returns:
        Boolean tensor `(batch_size, T, S)`.
    """
    query_positions = ops.arange(query_length) + query_offset
    key_positions = ops.arange(key_length)
    mask = ops.expand_dims(query_positions, -1) >= ops.expand_dims(key_positions, 0)
    return ops.broadcast_to(mask, (batch_size, query_length, key_length))


def merge_attention_masks(
    query,
    value,
    query_mask=None,
    value_mask=None,
    attention_mask=None,
    use_causal_mask=False,
    query_offset=0,
    value_axis=1,
):
    """Combines the mask arguments of an attention call into one mask.

    Args:
        query: `(batch, T, ...)` tensor; gives batch size and `T`.
        value: `(batch, S, ...)` tensor; gives `S` (on `value_axis`).
        query_mask: `(batch, T)`; `False` marks padded queries. Their rows
            are fully masked, as in `keras.layers.MultiHeadAttention`.
        value_mask: `(batch, S)`; `False` marks padded keys/values.
        attention_mask: `(batch, T, S)`; any further constraint.
        use_causal_mask: whether to add the causal mask, offset by
            `query_offset`.
        query_offset: absolute position of the first query (cache index).
        value_axis: the axis of `value` that holds `S`: 2 for keys laid out
            heads first, `(batch, num_heads, S, head_dim)`.

    Returns:
        Boolean `(batch, T, S)` mask, or `None` when nothing is masked.
    """
    mask = None
    value_length = ops.shape(value)[value_axis]

    def _and(a, b):
        return b if a is None else ops.logical_and(a, b)

    if query_mask is not None:
        mask = ops.expand_dims(ops.cast(query_mask, "bool"), -1)  # (B, T, 1)
    if value_mask is not None:
        mask = _and(mask, ops.expand_dims(ops.cast(value_mask, "bool"), 1))
    if attention_mask is not None:
        mask = _and(mask, ops.cast(attention_mask, "bool"))
    if use_causal_mask:
        causal = compute_causal_mask(
            ops.shape(query)[0],
            ops.shape(query)[1],
            value_length,
            query_offset,
        )
        mask = _and(mask, causal)
    if mask is None:
        return None
    batch_size, query_length = ops.shape(query)[0], ops.shape(query)[1]
    return ops.broadcast_to(mask, (batch_size, query_length, value_length))
