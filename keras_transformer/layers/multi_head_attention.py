"""Multi-head scaled dot-product attention with a static-shape key/value cache."""

import math

import keras
from keras import ops

from keras_transformer.layers.dropout import seeded_dropout
from keras_transformer.layers.initializers import clone_initializer
from keras_transformer.layers.masking import merge_attention_masks

# Softmax and the masking constant live in float32 whatever the compute dtype,
# so float16 logits cannot overflow (the value Keras' backends use as well).
_LARGE_NEGATIVE = -0.7 * 3.38953e38

# `flash_attention` of `ops.dot_product_attention`. `None` lets Keras test
# whether a flash kernel applies; on PyTorch that test builds a
# `torch.backends.cuda.SDPAParams`, a C++ object `torch.compile` cannot trace
# (one graph break per attention call in a compiled search step). `False`
# skips the test and calls `scaled_dot_product_attention` unrestricted, which
# picks its own kernel, flash included where it applies.
_FLASH_ATTENTION = False if keras.backend.backend() == "torch" else None


def scaled_dot_product_attention(
    query,
    key,
    value,
    mask=None,
    dropout_layer=None,
    training=None,
    heads_first=False,
):
    """Explicit attention, Vaswani et al. 2017, §3.2.1, eq. 1.

    `softmax(Q Kᵀ / √d_k) V`, with the logits and softmax in float32.

    Args:
        query: `(batch, T, num_heads, head_dim)`.
        key: `(batch, S, num_heads, head_dim)`.
        value: `(batch, S, num_heads, value_head_dim)`.
        mask: boolean, broadcastable to `(batch, num_heads, T, S)`; `True`
            means attend. A row with no `True` attends uniformly (the same
            rule as `keras.ops.dot_product_attention`), so it never yields NaN.
        dropout_layer: optional `keras.layers.Dropout` applied to the weights.
        training: passed to the dropout layer.
        heads_first: the query, key, value and outputs have the heads axis
            before the positions, `(batch, num_heads, T or S, head_dim)`: the
            layout of a key/value cache.

    Returns:
        `(outputs, weights)`: outputs `(batch, T, num_heads, value_head_dim)`
        (heads first with `heads_first`) in the query's dtype, weights
        `(batch, num_heads, T, S)` in float32 (before dropout).
    """
    scale = 1.0 / math.sqrt(query.shape[-1])
    query_layout = "bnth" if heads_first else "btnh"
    key_layout = query_layout.replace("t", "s")
    logits = ops.einsum(f"{query_layout},{key_layout}->bnts", query, key)
    logits = ops.cast(logits, "float32") * scale
    if mask is not None:
        logits = ops.where(mask, logits, _LARGE_NEGATIVE)
    weights = ops.softmax(logits, axis=-1)
    dropped = weights
    if dropout_layer is not None:
        dropped = dropout_layer(weights, training=training)
    outputs = ops.einsum(
        f"bnts,{key_layout}->{query_layout}", ops.cast(dropped, value.dtype), value
    )
    return outputs, weights


@keras.saving.register_keras_serializable(package="keras_transformer")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention, Vaswani et al. 2017, §3.2.2.

    `MultiHead(Q, K, V) = Concat(head_1, …, head_h) W^O` with
    `head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)`: learned projections to
    `num_heads` heads of `key_dim` (d_k) and `value_dim` (d_v) dimensions,
    scaled dot-product attention per head, heads concatenated and projected
    back to the query's width (d_model) or to `output_dim`.

    The attention itself takes one of two paths that give the same result:
    the backend's fused `keras.ops.dot_product_attention` (flash / cuDNN /
    SDPA kernels on a GPU) whenever nothing prevents it, and the explicit
    `scaled_dot_product_attention` when the weights are to be returned,
    attention dropout is active in training, `value_dim != key_dim`,
    `use_fused_attention` is `False`, or the call reads a cache.

    Masking: every mask is boolean with `True` = attend. `query_mask` and
    `value_mask` are padding masks `(batch, T)` and `(batch, S)`,
    `attention_mask` is `(batch, T, S)`, and `use_causal_mask` adds the
    decoder's causal mask (§3.2.3). They are combined with a logical and.

    Incremental decoding: `cache` is a `(keys, values)` pair of tensors
    `(batch, num_heads, S, key_dim)` and `(batch, num_heads, S, value_dim)`,
    heads before positions, so that attention reads each head's keys and
    values where they lie (a compiled step copies nothing out of the cache).
    - With `cache_update_index`, the keys/values of the current `query` are
      written into the cache at that position and attention runs over the
      whole cache; with `use_causal_mask`, slots past the current position are
      masked. This is decoder self-attention, one step at a time, with static
      shapes for compiled loops.
    - Without `cache_update_index`, the cache holds precomputed keys/values
      (`compute_key_value_cache`): the encoder-side keys and values of
      cross-attention, computed once per source. Its rows may be a divisor
      of the query's: each cache row then serves a group of consecutive
      query rows (the beams of one sentence in a beam search), as if it
      were repeated for each, and `value_mask` has the cache's rows. The
      group's queries read the row's keys and values once.
    A cached call always takes the explicit attention path (one query
    position against the cache is a pair of small batched products).

    Args:
        num_heads: number of attention heads (h).
        key_dim: size of each query/key head (d_k).
        value_dim: size of each value head (d_v); defaults to `key_dim`.
        output_dim: width of the output; defaults to the query's width.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        use_fused_attention: use `keras.ops.dot_product_attention` when
            possible. Set `False` to always take the explicit path.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, T, query_dim)`.
        value: `(batch, S, value_dim_in)`. May be `None` when `cache` holds
            precomputed keys/values.
        key: `(batch, S, key_dim_in)`; defaults to `value`.
        query_mask, value_mask, attention_mask, use_causal_mask: see Masking.
        cache: optional key/value cache, see Incremental decoding.
        cache_update_index: int or scalar tensor, see Incremental decoding.
        return_attention_scores: also return the attention weights.
        training: whether dropout is active.

    Returns:
        `outputs` of shape `(batch, T, output_dim)`, followed by the weights
        `(batch, num_heads, T, S)` (float32) if `return_attention_scores`, and
        by the updated `(keys, values)` cache if `cache` was given.

    Example:

    >>> layer = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = keras.random.normal((3, 5, 8))
    >>> layer(x, x, use_causal_mask=True).shape
    (3, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        output_dim=None,
        dropout=0.0,
        use_bias=True,
        use_fused_attention=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_heads < 1 or key_dim < 1:
            raise ValueError(
                "MultiHeadAttention needs num_heads >= 1 and key_dim >= 1. "
                f"Received: num_heads={num_heads}, key_dim={key_dim}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: {dropout}.")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim or key_dim
        self.output_dim = output_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.use_fused_attention = use_fused_attention
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self._dropout_layer = seeded_dropout(
            dropout, "attention_dropout", self.dtype_policy
        )

    def _projection(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, query_shape, value_shape=None, key_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        key_shape = value_shape if key_shape is None else key_shape
        self._query_dense = self._projection(self.num_heads * self.key_dim, "query")
        self._query_dense.build(query_shape)
        self._key_dense = self._projection(self.num_heads * self.key_dim, "key")
        self._key_dense.build(key_shape)
        self._value_dense = self._projection(self.num_heads * self.value_dim, "value")
        self._value_dense.build(value_shape)
        self._output_dense = self._projection(
            self.output_dim or query_shape[-1], "attention_output"
        )
        self._output_dense.build(
            tuple(query_shape[:-1]) + (self.num_heads * self.value_dim,)
        )
        self._dropout_layer.build(None)
        self.built = True

    # The projections, read-only, as keras.layers.MultiHeadAttention offers
    # them: kernels `(hidden_dim, num_heads * head_dim)`, and for the output
    # `(num_heads * value_dim, output_dim)`, head-major.
    @property
    def query_dense(self):
        return self._query_dense

    @property
    def key_dense(self):
        return self._key_dense

    @property
    def value_dense(self):
        return self._value_dense

    @property
    def output_dense(self):
        return self._output_dense

    def _split_heads(self, x, head_dim):
        # (B, T, N * H) -> (B, T, N, H)
        batch_size, length = ops.shape(x)[0], ops.shape(x)[1]
        return ops.reshape(x, (batch_size, length, self.num_heads, head_dim))

    def compute_key_value_cache(self, value, key=None):
        """Projects keys and values once, heads first: `(keys, values)` of
        `(batch, num_heads, S, key_dim)` and `(batch, num_heads, S,
        value_dim)`.

        Used for cross-attention, whose keys and values depend only on the
        encoder output and so are computed once per source sentence.
        """
        key = value if key is None else key
        keys = self._split_heads(self._key_dense(key), self.key_dim)
        values = self._split_heads(self._value_dense(value), self.value_dim)
        return ops.swapaxes(keys, 1, 2), ops.swapaxes(values, 1, 2)

    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
        return_attention_scores=False,
        training=None,
    ):
        if value is None and (cache is None or cache_update_index is not None):
            value = query
        query_heads = self._split_heads(self._query_dense(query), self.key_dim)
        masks = {
            "query_mask": query_mask,
            "value_mask": value_mask,
            "attention_mask": attention_mask,
            "use_causal_mask": use_causal_mask,
        }
        if cache is None:
            outputs, weights = self._attend_to_sequence(
                query_heads, value, key, masks, return_attention_scores, training
            )
        else:
            outputs, weights, cache = self._attend_to_cache(
                query_heads,
                value,
                key,
                masks,
                cache,
                cache_update_index,
                return_attention_scores,
            )
        batch_size, length = ops.shape(outputs)[0], ops.shape(outputs)[1]
        outputs = ops.reshape(
            outputs, (batch_size, length, self.num_heads * self.value_dim)
        )
        outputs = self._output_dense(outputs)

        results = (outputs,)
        if return_attention_scores:
            results += (weights,)
        if cache is not None:
            results += (cache,)
        return results[0] if len(results) == 1 else results

    def _check_cache(self, cache):
        """Raises a ValueError unless `cache` is a `(keys, values)` pair of
        this layer's heads and widths (a stacked cache of an older layout
        would otherwise be split along its batch)."""
        fits = isinstance(cache, (tuple, list)) and len(cache) == 2
        if fits:
            widths = (self.key_dim, self.value_dim)
            for tensor, width in zip(cache, widths, strict=True):
                shape = tuple(getattr(tensor, "shape", ()))
                fits = fits and len(shape) == 4
                fits = fits and shape[1] == self.num_heads and shape[3] == width
        if not fits:
            found = (
                f"a {type(cache).__name__} of shapes "
                f"{[tuple(getattr(x, 'shape', ())) for x in cache]}"
                if isinstance(cache, (tuple, list))
                else f"shape {tuple(getattr(cache, 'shape', ()))}"
            )
            raise ValueError(
                f"{self.name}: cache must be a (keys, values) pair of shapes "
                f"(batch, {self.num_heads}, length, {self.key_dim}) and "
                f"(batch, {self.num_heads}, length, {self.value_dim}), as "
                f"compute_key_value_cache gives; received {found}."
            )

    def _attend_to_sequence(
        self, query_heads, value, key, masks, return_attention_scores, training
    ):
        key = value if key is None else key
        key_heads = self._split_heads(self._key_dense(key), self.key_dim)
        value_heads = self._split_heads(self._value_dense(value), self.value_dim)
        # With nothing but a causal mask, the fused kernel applies it itself
        # (and may use a causal flash kernel); otherwise the masks are merged
        # into one boolean tensor.
        is_causal = masks["use_causal_mask"] and not any(
            masks[name] is not None
            for name in ("query_mask", "value_mask", "attention_mask")
        )
        mask = None
        if not is_causal:
            mask = merge_attention_masks(query_heads, key_heads, **masks)
        return self._attend(
            query_heads,
            key_heads,
            value_heads,
            mask=mask,
            is_causal=is_causal,
            return_attention_scores=return_attention_scores,
            training=training,
        )

    def _attend_to_cache(
        self, query_heads, value, key, masks, cache, update_index, return_scores
    ):
        self._check_cache(cache)
        keys, values = cache
        query_offset = 0
        query_shape = ops.shape(query_heads)
        grouped = False
        if update_index is not None:
            new_keys, new_values = self.compute_key_value_cache(value, key)
            start = (0, 0, update_index, 0)
            keys = ops.slice_update(keys, start, ops.cast(new_keys, keys.dtype))
            values = ops.slice_update(values, start, ops.cast(new_values, values.dtype))
            query_offset = update_index
        else:
            grouped = self._groups_queries(query_shape[0], ops.shape(keys)[0])
        if grouped:
            # Each cache row serves the query rows of its group (the beams of
            # one sentence): their positions become that row's queries, which
            # read its keys and values once.
            cache_rows = ops.shape(keys)[0]
            query_heads = ops.reshape(
                query_heads,
                (cache_rows, query_shape[0] // cache_rows * query_shape[1])
                + tuple(query_shape[2:]),
            )
        mask = merge_attention_masks(
            query_heads, keys, query_offset=query_offset, value_axis=2, **masks
        )
        if mask is not None:
            mask = ops.expand_dims(mask, 1)  # (B, 1, T, S)
        outputs, weights = scaled_dot_product_attention(
            ops.swapaxes(query_heads, 1, 2), keys, values, mask, heads_first=True
        )
        outputs = ops.swapaxes(outputs, 1, 2)
        if grouped:
            outputs = ops.reshape(outputs, tuple(query_shape[:3]) + (self.value_dim,))
            if return_scores:
                # (cache rows, heads, group * T, S) -> (query rows, heads, T, S)
                target_length, source_length = query_shape[1], ops.shape(keys)[2]
                weights = ops.reshape(
                    weights,
                    (cache_rows, self.num_heads, -1, target_length, source_length),
                )
                weights = ops.reshape(
                    ops.swapaxes(weights, 1, 2),
                    (query_shape[0], self.num_heads, target_length, source_length),
                )
        return outputs, weights, (keys, values)

    def _groups_queries(self, query_rows, cache_rows):
        """Whether a precomputed cache of `cache_rows` serves groups of the
        `query_rows` (Incremental decoding); a row count unknown until run
        time (a TensorFlow graph) groups, which is the identity for equal
        counts."""
        if not (isinstance(query_rows, int) and isinstance(cache_rows, int)):
            return True
        if query_rows == cache_rows:
            return False
        if cache_rows < 1 or query_rows % cache_rows:
            raise ValueError(
                f"{self.name}: a precomputed cache of {cache_rows} rows cannot "
                f"serve {query_rows} query rows: the query rows must be the "
                "cache's rows or a multiple of them (consecutive groups, one "
                "per cache row)."
            )
        return True

    def _attend(
        self, query, key, value, mask, is_causal, return_attention_scores, training
    ):
        dropout_active = self.dropout > 0 and bool(training)
        # Fused kernels need d_v == d_k (jax.nn.dot_product_attention checks).
        if (
            self.use_fused_attention
            and self.value_dim == self.key_dim
            and not return_attention_scores
            and not dropout_active
        ):
            if mask is not None:
                mask = ops.expand_dims(mask, 1)  # (B, 1, T, S)
            outputs = ops.dot_product_attention(
                query,
                key,
                value,
                mask=mask,
                scale=1.0 / math.sqrt(self.key_dim),
                is_causal=is_causal,
                flash_attention=_FLASH_ATTENTION,
            )
            return outputs, None
        if is_causal:
            mask = merge_attention_masks(query, key, use_causal_mask=True)
        if mask is not None:
            mask = ops.expand_dims(mask, 1)
        return scaled_dot_product_attention(
            query,
            key,
            value,
            mask=mask,
            dropout_layer=self._dropout_layer if dropout_active else None,
            training=training,
        )

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "output_dim": self.output_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "use_fused_attention": self.use_fused_attention,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
