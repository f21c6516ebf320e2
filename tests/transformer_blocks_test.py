"""Encoder/decoder blocks and stacks: harness, padding, causality, caching."""

import numpy as np
import pytest
from keras import ops

from keras_transformer.layers import (
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)
from tests.harness import run_layer_test, to_numpy

BLOCK_KWARGS = {"num_heads": 2, "intermediate_dim": 16, "dropout": 0.1}
KEY_BIASES = ("key/bias",)
rng = np.random.RandomState(0)
SOURCE = rng.randn(2, 6, 8).astype("float32")
TARGET = rng.randn(2, 5, 8).astype("float32")
SOURCE_MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
TARGET_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_block_basics(tmp_path, normalize_first):
    run_layer_test(
        TransformerEncoderBlock,
        {**BLOCK_KWARGS, "normalize_first": normalize_first, "activation": "gelu"},
        {"inputs": SOURCE, "padding_mask": SOURCE_MASK},
        SOURCE.shape,
        tmp_path,
        weights_without_gradient=KEY_BIASES,
    )


@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_block_basics(tmp_path, normalize_first):
    run_layer_test(
        TransformerDecoderBlock,
        {**BLOCK_KWARGS, "normalize_first": normalize_first, "attention_dropout": 0.1},
        {
            "decoder_sequence": TARGET,
            "encoder_sequence": SOURCE,
            "decoder_padding_mask": TARGET_MASK,
            "encoder_padding_mask": SOURCE_MASK,
        },
        TARGET.shape,
        tmp_path,
        weights_without_gradient=KEY_BIASES,
    )


def test_stacks_basics(tmp_path):
    run_layer_test(
        TransformerEncoder,
        {**BLOCK_KWARGS, "num_layers": 2, "normalize_first": True},
        {"inputs": SOURCE, "padding_mask": SOURCE_MASK},
        SOURCE.shape,
        tmp_path,
        weights_without_gradient=KEY_BIASES,
    )
    run_layer_test(
        TransformerDecoder,
        {**BLOCK_KWARGS, "num_layers": 2},
        {
            "decoder_sequence": TARGET,
            "encoder_sequence": SOURCE,
            "encoder_padding_mask": SOURCE_MASK,
        },
        TARGET.shape,
        tmp_path,
        weights_without_gradient=KEY_BIASES,
    )


def test_post_ln_block_equals_the_papers_composition():
    """LayerNorm(x + Sublayer(x)) twice, with dropout off (§3.1)."""
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16, dropout=0.0)
    outputs = to_numpy(block(SOURCE, padding_mask=SOURCE_MASK))
    attention = block._self_attention(SOURCE, SOURCE, value_mask=SOURCE_MASK)
    x = block._self_attention_layer_norm(ops.add(SOURCE, attention))
    expected = block._feed_forward_layer_norm(ops.add(x, block._feed_forward(x)))
    np.testing.assert_allclose(outputs, to_numpy(expected), atol=1e-5)


def test_pre_ln_stack_ends_with_a_layer_norm():
    encoder = TransformerEncoder(num_layers=1, normalize_first=True, **BLOCK_KWARGS)
    outputs = to_numpy(encoder(SOURCE * 5 + 3))
    np.testing.assert_allclose(outputs.mean(-1), 0.0, atol=1e-4)
    np.testing.assert_allclose(outputs.std(-1), 1.0, atol=1e-2)


def test_encoder_padding_never_leaks():
    encoder = TransformerEncoder(num_layers=2, **BLOCK_KWARGS)
    changed = SOURCE.copy()
    changed[0, 4:] = 50.0
    a = to_numpy(encoder(SOURCE, padding_mask=SOURCE_MASK))
    b = to_numpy(encoder(changed, padding_mask=SOURCE_MASK))
    np.testing.assert_allclose(a[0, :4], b[0, :4], atol=1e-5)
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_decoder_padding_and_future_never_leak():
    decoder = TransformerDecoder(num_layers=2, **BLOCK_KWARGS)
    base = to_numpy(decoder(TARGET, SOURCE, TARGET_MASK, SOURCE_MASK))
    source_changed = SOURCE.copy()
    source_changed[0, 4:] = -30.0
    target_changed = TARGET.copy()
    target_changed[:, 3:] = 30.0  # padding in row 0, the future of t < 3 in both
    for enc, dec in ((source_changed, TARGET), (SOURCE, target_changed)):
        out = to_numpy(decoder(dec, enc, TARGET_MASK, SOURCE_MASK))
        np.testing.assert_allclose(out[0, :3], base[0, :3], atol=1e-5)
        np.testing.assert_allclose(out[1, :3], base[1, :3], atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_cached_decoding_equals_full_pass(normalize_first):
    decoder = TransformerDecoder(
        num_layers=2, normalize_first=normalize_first, **BLOCK_KWARGS
    )
    full = to_numpy(decoder(TARGET, SOURCE, encoder_padding_mask=SOURCE_MASK))
    cross_cache = decoder.compute_cross_attention_cache(SOURCE)
    # One (keys, values) pair per block, each (batch, heads, positions, d_k).
    assert [[tuple(x.shape) for x in pair] for pair in cross_cache] == [
        [(2, 2, 6, 4)] * 2
    ] * 2
    self_cache = decoder.initial_self_attention_cache(2, 5)
    assert [[tuple(x.shape) for x in pair] for pair in self_cache] == [
        [(2, 2, 5, 4)] * 2
    ] * 2
    steps = []
    for index in range(5):
        output, self_cache = decoder(
            TARGET[:, index : index + 1],
            encoder_padding_mask=SOURCE_MASK,
            self_attention_cache=self_cache,
            cross_attention_cache=cross_cache,
            cache_update_index=index,
        )
        steps.append(to_numpy(output))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    # A cache filled in two chunks (prefix, then the rest) gives the same.
    self_cache = decoder.initial_self_attention_cache(2, 5)
    first, self_cache = decoder(
        TARGET[:, :2], SOURCE, None, SOURCE_MASK, self_cache, cache_update_index=0
    )
    rest, _ = decoder(
        TARGET[:, 2:], SOURCE, None, SOURCE_MASK, self_cache, cache_update_index=2
    )
    np.testing.assert_allclose(
        np.concatenate([to_numpy(first), to_numpy(rest)], 1), full, atol=1e-5
    )


def test_returns_attention_scores_per_layer():
    decoder = TransformerDecoder(num_layers=2, **BLOCK_KWARGS)
    _, scores = decoder(
        TARGET, SOURCE, TARGET_MASK, SOURCE_MASK, return_attention_scores=True
    )
    assert len(scores) == 2
    assert tuple(scores[1]["self_attention"].shape) == (2, 2, 5, 5)
    cross = to_numpy(scores[1]["cross_attention"])
    assert cross.shape == (2, 2, 5, 6)
    assert np.all(cross[0, :, :, 4:] == 0)
    encoder = TransformerEncoder(num_layers=2, **BLOCK_KWARGS)
    _, scores = encoder(SOURCE, SOURCE_MASK, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(scores[0]).sum(-1), 1.0, atol=1e-5)


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerEncoderBlock(num_heads=3, intermediate_dim=8)(SOURCE)
    with pytest.raises(ValueError, match="num_layers"):
        TransformerEncoder(num_layers=0, num_heads=2, intermediate_dim=8)
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=8)
    with pytest.raises(ValueError, match="cache_update_index"):
        block(TARGET, SOURCE, self_attention_cache=(ops.zeros((2, 2, 5, 4)),) * 2)
    decoder = TransformerDecoder(num_layers=2, **BLOCK_KWARGS)
    decoder(TARGET, SOURCE)
    self_cache = decoder.initial_self_attention_cache(2, 5)
    cross_cache = decoder.compute_cross_attention_cache(SOURCE)
    stacked = ops.zeros((2, 2, 2, 5, 2, 4))  # 0.1's layout: one stacked tensor
    index = {"cache_update_index": 0}
    with pytest.raises(ValueError, match="self_attention_cache must be a list"):
        decoder(TARGET[:, :1], None, None, None, stacked, cross_cache, **index)
    with pytest.raises(ValueError, match="cross_attention_cache .* received 4 items"):
        decoder(TARGET[:, :1], None, None, None, self_cache, cross_cache * 2, **index)
