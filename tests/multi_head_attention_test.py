import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import (
    MultiHeadAttention,
    merge_attention_masks,
    scaled_dot_product_attention,
)
from tests.harness import run_layer_test, to_numpy

BATCH, TARGET_LEN, SOURCE_LEN, DIM, HEADS = 2, 5, 7, 8, 2
# q·b_k is the same for every key of a row, so softmax cancels the key bias
# and its gradient is zero.
KEY_BIAS = ("key/bias",)


def _inputs(seed=0):
    rng = np.random.RandomState(seed)
    query = rng.randn(BATCH, TARGET_LEN, DIM).astype("float32")
    value = rng.randn(BATCH, SOURCE_LEN, DIM).astype("float32")
    return query, value


def _numpy_attention(layer, query, value, mask=None):
    """Vaswani et al. 2017, eq. 1 and §3.2.2, by hand, from the layer's weights."""
    wq, bq = (to_numpy(w) for w in layer._query_dense.weights)
    wk, bk = (to_numpy(w) for w in layer._key_dense.weights)
    wv, bv = (to_numpy(w) for w in layer._value_dense.weights)
    wo, bo = (to_numpy(w) for w in layer._output_dense.weights)
    head_dim = layer.key_dim

    def heads(x):  # (B, L, N*H) -> (B, N, L, H)
        b, length, _ = x.shape
        return x.reshape(b, length, layer.num_heads, head_dim).transpose(0, 2, 1, 3)

    q, k, v = heads(query @ wq + bq), heads(value @ wk + bk), heads(value @ wv + bv)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)  # (B, N, T, S)
    if mask is not None:
        scores = np.where(mask[:, None], scores, -1e30)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads_out = (weights @ v).transpose(0, 2, 1, 3).reshape(BATCH, -1, DIM)
    return heads_out @ wo + bo, weights


def _same_dropout_calls(layer, *calls):
    """Runs `calls` (functions of the layer) with one replayed dropout pattern."""
    state = layer._dropout_layer.seed_generator.state
    saved = to_numpy(state)
    results = []
    for call in calls:
        state.assign(saved)  # the seeded layer's masks follow its state alone
        results.append(to_numpy(call()))
    return results


def _layer(**kwargs):
    layer = MultiHeadAttention(num_heads=HEADS, key_dim=DIM // HEADS, **kwargs)
    layer.build((BATCH, TARGET_LEN, DIM), (BATCH, SOURCE_LEN, DIM))
    return layer


def test_layer_basics(tmp_path):
    query, value = _inputs()
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": HEADS, "key_dim": 4, "value_dim": 3, "output_dim": 6},
        {"query": query, "value": value},
        (BATCH, TARGET_LEN, 6),
        tmp_path,
        weights_without_gradient=KEY_BIAS,
    )


def test_layer_basics_with_causal_mask(tmp_path):
    query, _ = _inputs()
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": HEADS, "key_dim": 4, "dropout": 0.1},
        {"query": query, "value": query},
        (BATCH, TARGET_LEN, DIM),
        tmp_path,
        call_kwargs={"use_causal_mask": True},
        weights_without_gradient=KEY_BIAS,
    )


@pytest.mark.parametrize("use_fused_attention", [True, False])
def test_equals_numpy_reference_without_mask(use_fused_attention):
    query, value = _inputs()
    layer = _layer(use_fused_attention=use_fused_attention)
    expected, _ = _numpy_attention(layer, query, value)
    np.testing.assert_allclose(to_numpy(layer(query, value)), expected, atol=1e-5)


@pytest.mark.parametrize("use_fused_attention", [True, False])
def test_equals_numpy_reference_with_padding_and_attention_masks(
    use_fused_attention,
):
    query, value = _inputs()
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[0, 4:] = False
    attention_mask = np.random.RandomState(1).rand(BATCH, TARGET_LEN, SOURCE_LEN) > 0.3
    attention_mask[:, :, 0] = True
    layer = _layer(use_fused_attention=use_fused_attention)
    expected, _ = _numpy_attention(
        layer, query, value, value_mask[:, None, :] & attention_mask
    )
    outputs = layer(query, value, value_mask=value_mask, attention_mask=attention_mask)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5)


def test_returned_weights_equal_reference_and_sum_to_one():
    query, value = _inputs()
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[1, 3:] = False
    layer = _layer()
    outputs, weights = layer(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    expected_outputs, expected_weights = _numpy_attention(
        layer, query, value, np.broadcast_to(value_mask[:, None], (BATCH, 5, 7))
    )
    weights = to_numpy(weights)
    assert weights.shape == (BATCH, HEADS, TARGET_LEN, SOURCE_LEN)
    np.testing.assert_allclose(weights, expected_weights, atol=1e-6)
    np.testing.assert_allclose(to_numpy(outputs), expected_outputs, atol=1e-5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert np.all(weights[1, :, :, 3:] == 0.0)


def test_fused_and_explicit_paths_agree_for_every_mask_kind():
    query, _ = _inputs()
    padding = np.ones((BATCH, TARGET_LEN), bool)
    padding[0, 3:] = False
    fused, explicit = _layer(), _layer(use_fused_attention=False)
    explicit.set_weights(fused.get_weights())
    for kwargs in (
        {},
        {"use_causal_mask": True},
        {"value_mask": padding},
        {"value_mask": padding, "use_causal_mask": True},
        {"query_mask": padding, "value_mask": padding},
    ):
        np.testing.assert_allclose(
            to_numpy(fused(query, query, **kwargs)),
            to_numpy(explicit(query, query, **kwargs)),
            atol=1e-5,
            err_msg=str(kwargs),
        )


@pytest.mark.parametrize("training", [False, True])
def test_causal_mask_blocks_the_future(training):
    """Changing position t changes no output before t, with dropout on too."""
    query, _ = _inputs()
    layer = _layer(dropout=0.5)
    for t in range(1, TARGET_LEN):
        changed = query.copy()
        changed[:, t:] += 10.0
        before, after = _same_dropout_calls(
            layer,
            lambda: layer(query, query, use_causal_mask=True, training=training),
            lambda q=changed: layer(q, q, use_causal_mask=True, training=training),
        )
        np.testing.assert_allclose(after[:, :t], before[:, :t], atol=1e-5)
        assert not np.allclose(after[:, t:], before[:, t:])
    inference = to_numpy(layer(query, query, use_causal_mask=True, training=False))
    assert np.allclose(before, inference) != training, "dropout must act in training"


def test_dropout_in_training_keeps_masked_weights_at_zero():
    query, _ = _inputs()
    padding = np.ones((BATCH, TARGET_LEN), bool)
    padding[:, 3:] = False
    layer = _layer(dropout=0.5)
    # Same dropout pattern, different values at the padded keys: no output moves.
    changed = query.copy()
    changed[:, 3:] = 100.0
    a, b = _same_dropout_calls(
        layer,
        lambda: layer(query, query, value_mask=padding, training=True),
        lambda: layer(query, changed, value_mask=padding, training=True),
    )
    np.testing.assert_allclose(a, b, atol=1e-5)
    _, weights = layer(
        query,
        query,
        value_mask=padding,
        use_causal_mask=True,
        return_attention_scores=True,
        training=True,
    )
    weights = to_numpy(weights)
    assert np.all(weights[..., 3:] == 0.0)
    assert np.all(
        np.triu(np.ones((TARGET_LEN, TARGET_LEN)), 1)[None, None] * weights == 0
    )


def test_padding_never_leaks():
    query, value = _inputs()
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[:, 4:] = False
    layer = _layer()
    changed = value.copy()
    changed[:, 4:] = np.random.RandomState(5).randn(BATCH, 3, DIM) * 100
    np.testing.assert_allclose(
        to_numpy(layer(query, value, value_mask=value_mask)),
        to_numpy(layer(query, changed, value_mask=value_mask)),
        atol=1e-5,
    )


def test_fully_masked_rows_give_finite_uniform_attention():
    query, value = _inputs()
    value_mask = np.zeros((BATCH, SOURCE_LEN), bool)
    for use_fused_attention in (True, False):
        outputs = to_numpy(
            _layer(use_fused_attention=use_fused_attention)(
                query, value, value_mask=value_mask
            )
        )
        assert np.all(np.isfinite(outputs))
    _, weights = _layer()(
        query, value, value_mask=value_mask, return_attention_scores=True
    )
    np.testing.assert_allclose(to_numpy(weights), 1.0 / SOURCE_LEN, atol=1e-6)


def _causal_self_attention_step_by_step(layer, query):
    """Causal self-attention over `query` one position at a time, through a
    self-attention cache, heads first; the outputs joined."""
    cache = tuple(
        ops.zeros((BATCH, HEADS, TARGET_LEN, width))
        for width in (layer.key_dim, layer.value_dim)
    )
    steps = []
    for index in range(TARGET_LEN):
        step = query[:, index : index + 1]
        output, cache = layer(
            step, step, use_causal_mask=True, cache=cache, cache_update_index=index
        )
        steps.append(to_numpy(output))
    return np.concatenate(steps, axis=1)


def test_cached_self_attention_equals_full_pass():
    query, _ = _inputs()
    layer = _layer()
    full = to_numpy(layer(query, query, use_causal_mask=True))
    steps = _causal_self_attention_step_by_step(layer, query)
    np.testing.assert_allclose(steps, full, atol=1e-5)


def test_precomputed_cross_attention_cache_equals_full_pass():
    query, value = _inputs()
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[0, 5:] = False
    layer = _layer()
    keys, values = layer.compute_key_value_cache(value)
    assert tuple(keys.shape) == (BATCH, HEADS, SOURCE_LEN, DIM // HEADS)
    assert tuple(values.shape) == (BATCH, HEADS, SOURCE_LEN, DIM // HEADS)
    # Heads first: head 1's keys are the key projection's second block.
    projected = to_numpy(layer.key_dense(value))
    np.testing.assert_allclose(
        to_numpy(keys)[:, 1], projected[..., DIM // HEADS : 2 * DIM // HEADS]
    )
    cached, returned_cache = layer(
        query, None, value_mask=value_mask, cache=(keys, values)
    )
    np.testing.assert_allclose(
        to_numpy(cached),
        to_numpy(layer(query, value, value_mask=value_mask)),
        atol=1e-5,
    )
    np.testing.assert_array_equal(to_numpy(returned_cache[0]), to_numpy(keys))
    np.testing.assert_array_equal(to_numpy(returned_cache[1]), to_numpy(values))


@pytest.mark.parametrize("group", [1, 3])
def test_cache_row_serves_its_group_of_query_rows(group):
    """A precomputed cache of one row per sentence, read by `group`
    consecutive query rows each (the beams of a sentence), gives what the
    cache repeated per query row gives, with value widths unlike the keys'."""
    rng = np.random.RandomState(3)
    query = rng.randn(BATCH * group, 1, DIM).astype("float32")
    value = rng.randn(BATCH, SOURCE_LEN, DIM).astype("float32")
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[1, 3:] = False
    layer = MultiHeadAttention(num_heads=HEADS, key_dim=3, value_dim=5)
    layer.build((BATCH, 1, DIM), (BATCH, SOURCE_LEN, DIM))
    keys, values = layer.compute_key_value_cache(value)
    shared, returned_cache = layer(
        query, None, value_mask=value_mask, cache=(keys, values)
    )
    assert tuple(shared.shape) == (BATCH * group, 1, DIM)
    repeated = layer(
        query,
        np.repeat(value, group, axis=0),
        value_mask=np.repeat(value_mask, group, axis=0),
    )
    np.testing.assert_allclose(to_numpy(shared), to_numpy(repeated), atol=1e-5)
    np.testing.assert_array_equal(to_numpy(returned_cache[0]), to_numpy(keys))


@pytest.mark.parametrize("group", [1, 3])
def test_a_shared_cache_row_returns_each_query_rows_weights(group):
    """The attention weights of a grouped cached call are per query row,
    `(query rows, heads, T, S)`, as the cache repeated per row gives them."""
    rng = np.random.RandomState(4)
    query = rng.randn(BATCH * group, 2, DIM).astype("float32")
    value = rng.randn(BATCH, SOURCE_LEN, DIM).astype("float32")
    value_mask = np.ones((BATCH, SOURCE_LEN), bool)
    value_mask[0, 2:] = False
    layer = _layer()
    cache = layer.compute_key_value_cache(value)
    _, shared, _ = layer(
        query, None, value_mask=value_mask, cache=cache, return_attention_scores=True
    )
    repeated_cache = [np.repeat(to_numpy(x), group, axis=0) for x in cache]
    _, repeated, _ = layer(
        query,
        None,
        value_mask=np.repeat(value_mask, group, axis=0),
        cache=repeated_cache,
        return_attention_scores=True,
    )
    assert tuple(shared.shape) == (BATCH * group, HEADS, 2, SOURCE_LEN)
    np.testing.assert_allclose(to_numpy(shared), to_numpy(repeated), atol=1e-6)


def test_cache_rows_that_do_not_divide_the_query_rows_are_refused():
    query, value = _inputs()
    layer = _layer()
    keys, values = layer.compute_key_value_cache(value[:1].repeat(3, axis=0))
    with pytest.raises(ValueError, match="cache of 3 rows cannot serve 2 query"):
        layer(query, None, cache=(keys, values))


@pytest.mark.parametrize("key_dim", [2, 6])  # d_k below and above d_v = 4
def test_caches_hold_keys_and_values_of_different_sizes(key_dim):
    """Table 3 row (B) varies d_k at fixed d_v: keys and values are cached
    at their own widths and the cached passes still equal the full ones."""
    query, value = _inputs()
    layer = MultiHeadAttention(num_heads=HEADS, key_dim=key_dim, value_dim=DIM // HEADS)
    layer.build((BATCH, TARGET_LEN, DIM), (BATCH, SOURCE_LEN, DIM))
    keys, values = layer.compute_key_value_cache(value)
    assert tuple(keys.shape) == (BATCH, HEADS, SOURCE_LEN, key_dim)
    assert tuple(values.shape) == (BATCH, HEADS, SOURCE_LEN, DIM // HEADS)
    np.testing.assert_allclose(
        to_numpy(layer(query, None, cache=(keys, values))[0]),
        to_numpy(layer(query, value)),
        atol=1e-5,
    )
    full = to_numpy(layer(query, query, use_causal_mask=True))
    steps = _causal_self_attention_step_by_step(layer, query)
    np.testing.assert_allclose(steps, full, atol=1e-5)


def test_merged_mask_reads_the_key_length_from_the_axis_named():
    """A cached step's keys are heads first, `(batch, heads, S, head_dim)`:
    `value_axis=2` reads S there. A query at cache position 2 of 5, with
    the last key padded, sees keys 0..2."""
    query = np.zeros((2, 1, 8), "float32")
    keys = np.zeros((2, 4, 5, 3), "float32")  # 4 heads would be read as S
    value_mask = np.array([[True] * 4 + [False]] * 2)
    mask = merge_attention_masks(
        query,
        keys,
        value_mask=value_mask,
        use_causal_mask=True,
        query_offset=2,
        value_axis=2,
    )
    expected = np.array([[[True, True, True, False, False]]] * 2)
    np.testing.assert_array_equal(to_numpy(mask), expected)


def test_a_cache_of_another_layout_is_refused():
    """A cache must be a heads-first (keys, values) pair: one stacked tensor
    (0.1's layout) would split along its batch of 2."""
    query, _ = _inputs()
    step = query[:, :1]
    layer = _layer()
    stacked = ops.zeros((BATCH, 2, TARGET_LEN, HEADS, DIM // HEADS))
    positions_first = (ops.zeros((BATCH, TARGET_LEN, HEADS, DIM // HEADS)),) * 2
    for cache, found in (
        (stacked, r"received shape \(2, 2, 5, 2, 4\)"),
        (positions_first, r"received a tuple of shapes \[\(2, 5, 2, 4\)"),
        ((stacked,), "received a tuple of shapes"),
    ):
        with pytest.raises(ValueError, match=r"\(keys, values\) pair.*" + found):
            layer(step, step, use_causal_mask=True, cache=cache, cache_update_index=0)


def test_scaled_dot_product_attention_scale_is_one_over_sqrt_dk():
    q = np.ones((1, 1, 1, 4), "float32")
    k = np.stack([np.zeros(4), np.ones(4)])[None, :, None].astype("float32")
    v = np.eye(2, dtype="float32")[None, :, None]
    _, weights = scaled_dot_product_attention(q, k, v)
    # logits: [0, 4 / sqrt(4)] = [0, 2]
    expected = np.exp([0.0, 2.0]) / np.exp([0.0, 2.0]).sum()
    np.testing.assert_allclose(to_numpy(weights)[0, 0, 0], expected, rtol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(num_heads=0, key_dim=4)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(num_heads=2, key_dim=4, dropout=1.5)
