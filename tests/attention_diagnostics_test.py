"""Attention extraction and the attention-health monitor."""

import os
import sys
import warnings

import keras
import numpy as np
import pytest

from keras_transformer.diagnostics import (
    KINDS,
    AttentionHealthWarning,
    AttentionMonitor,
    diagnose_heads,
    extract_attention,
)
from tests.harness import to_numpy
from tests.tiny import decoding_fixture, fixture_model, tiny_transformer

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
sys.path.insert(0, FIXTURES)
from make_decoding_fixture import make_reversal_data  # noqa: E402

sys.path.remove(FIXTURES)


def _trained_reversal_model():
    """The digit-reversal model of `fixtures/decoding.npz` (trained, 1 layer,
    2 heads, fused attention on)."""
    return fixture_model(decoding_fixture())


@pytest.fixture(scope="module")
def trained_model():
    """Shared by the tests that do not change its weights (one compiled pass)."""
    return _trained_reversal_model()


def _reversal_batch(count=12, seed=3):
    source, decoder, labels = make_reversal_data(count, 8, seed=seed)
    return {"encoder_token_ids": source, "decoder_token_ids": decoder}, labels


def _attention_layer(model, kind, index=0):
    if kind == "encoder_self":
        return model.encoder.blocks[index].self_attention
    name = "self_attention" if kind == "decoder_self" else "cross_attention"
    return getattr(model.decoder.blocks[index], name)


def test_weights_are_distributions_over_the_keys_each_query_may_attend(trained_model):
    model = trained_model
    inputs, _ = _reversal_batch()
    assert (inputs["encoder_token_ids"] == 0).any(), "the batch must have padding"
    maps = extract_attention(model, inputs)
    for kind in KINDS:
        allowed = maps.valid_pairs(kind)  # (B, 1, T, S)
        real_queries = allowed.any(-1)
        blocked = real_queries[..., None] & ~allowed
        assert blocked.any()
        for weights in maps.weights(kind):
            assert weights.dtype == np.float32
            # Padding keys, and future keys in decoder self-attention, get 0.
            assert np.all(weights[np.broadcast_to(blocked, weights.shape)] == 0.0)
            sums = weights.sum(-1)
            np.testing.assert_allclose(
                sums[np.broadcast_to(real_queries, sums.shape)], 1.0, atol=1e-5
            )
    # The causal mask: the first target position can only see itself.
    np.testing.assert_allclose(maps.decoder_self[0][:, :, 0, 0], 1.0, atol=1e-6)


def test_extraction_matches_the_fused_model_and_the_explicit_layers(trained_model):
    model = trained_model
    assert model.use_fused_attention
    inputs, _ = _reversal_batch()
    maps = extract_attention(model, inputs)
    # The same function as the fast path: the logits agree.
    np.testing.assert_allclose(maps.logits, to_numpy(model(inputs)), atol=1e-4)

    # Encoder layer 0 by hand, in numpy, from the layer's own kernels.
    ids = inputs["encoder_token_ids"]
    embedded = to_numpy(
        model.encoder_position_encoding(model.encoder_token_embedding(ids))
    )
    attention = _attention_layer(model, "encoder_self")
    heads, head_dim = attention.num_heads, attention.key_dim

    def project(dense):
        out = embedded @ to_numpy(dense.kernel) + to_numpy(dense.bias)
        return out.reshape(*ids.shape, heads, head_dim)

    query, key = project(attention._query_dense), project(attention._key_dense)
    logits = np.einsum("btnh,bsnh->bnts", query, key) / np.sqrt(head_dim)
    logits = np.where((ids != 0)[:, None, None, :], logits, -np.inf)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(maps.encoder_self[0], expected, atol=1e-5)

    # The decoder's own explicit pass returns the same cross-attention.
    encoder_output = model.encode(ids)
    target = model.decoder_position_encoding(
        model.decoder_token_embedding(inputs["decoder_token_ids"])
    )
    _, scores = model.decoder(
        target,
        encoder_output,
        decoder_padding_mask=inputs["decoder_token_ids"] != 0,
        encoder_padding_mask=ids != 0,
        return_attention_scores=True,
    )
    for kind, key in (
        ("decoder_self", "self_attention"),
        ("decoder_cross", "cross_attention"),
    ):
        np.testing.assert_allclose(
            maps.weights(kind)[0], to_numpy(scores[0][key]), atol=1e-6
        )


def test_trained_model_is_healthy_and_fit_logs_the_statistics(trained_model, tmp_path):
    model = trained_model  # SGD with a zero rate leaves the weights as they are
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    inputs, labels = _reversal_batch(count=32, seed=11)
    monitor = AttentionMonitor(
        _reversal_batch(seed=5)[0],
        every_epochs=1,
        every_steps=2,
        log_dir=str(tmp_path / "attention"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(
            inputs, labels, batch_size=8, epochs=1, callbacks=[monitor], verbose=0
        )
    health = [w for w in caught if issubclass(w.category, AttentionHealthWarning)]
    assert not health, [str(w.message) for w in health]
    # Steps 2 and 4; the epoch end reuses the step-4 measurement.
    assert [r["step"] for r in monitor.records] == [2, 4]
    assert not monitor.records[-1]["issues"]
    logged = {
        k: v[-1] for k, v in history.history.items() if k.startswith("attention/")
    }
    expected_layers = {"encoder_self_0", "decoder_self_0", "decoder_cross_0"}
    assert {k.split("/")[1] for k in logged} - {"flagged_heads"} == expected_layers
    assert len(logged) == 3 * len(expected_layers) + 1
    assert logged == pytest.approx(monitor.records[-1]["logs"])
    assert logged["attention/flagged_heads"] == 0
    for layer in expected_layers:
        entropy = logged[f"attention/{layer}/head_entropy_mean"]
        assert 0.05 < logged[f"attention/{layer}/head_entropy_min"] <= entropy < 0.98
        assert 0.5 <= logged[f"attention/{layer}/head_share_max"] < 1.0
    events = os.listdir(tmp_path / "attention")
    assert any(name.startswith("events.out.tfevents") for name in events)


def test_monitor_warns_once_about_a_constructed_collapsed_head():
    model = _trained_reversal_model()
    # Head 1 of the encoder self-attention: a constant, very large query makes
    # every query put all its weight on the same key.
    attention = _attention_layer(model, "encoder_self")
    size = attention.key_dim
    kernel = to_numpy(attention._query_dense.kernel)
    bias = to_numpy(attention._query_dense.bias)
    kernel[:, size : 2 * size] = 0.0
    bias[size : 2 * size] = 1e4 * np.random.RandomState(0).randn(size)
    attention._query_dense.kernel.assign(kernel)
    attention._query_dense.bias.assign(bias)

    monitor = AttentionMonitor(_reversal_batch()[0], every_epochs=0, every_steps=1)
    monitor.set_model(model)
    monitor.on_train_begin()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            monitor.on_train_batch_end(step)
    messages = [str(w.message) for w in caught if w.category is AttentionHealthWarning]
    assert len(messages) == 1, messages  # once per head and condition
    assert "head 1 of encoder_self_0 is collapsed" in messages[0]
    assert "every query attends the same key" in messages[0]
    issues = monitor.records[-1]["issues"]
    assert [(i.layer, i.head, i.condition) for i in issues] == [
        ("encoder_self_0", 1, "collapsed")
    ]
    assert monitor.records[-1]["logs"]["attention/flagged_heads"] == 1
    assert (
        monitor.records[-1]["logs"]["attention/encoder_self_0/head_entropy_min"] < 0.05
    )


def test_uniform_and_dominant_heads_are_flagged():
    model = tiny_transformer(14, num_heads=4, hidden_dim=32)
    inputs, _ = _reversal_batch()
    _, before = diagnose_heads(extract_attention(model, inputs))
    assert ("decoder_cross_0", 2, "dominant") not in {
        (i.layer, i.head, i.condition) for i in before
    }
    # Encoder head 0: a zero query attends uniformly.
    attention = _attention_layer(model, "encoder_self")
    size = attention.key_dim
    for variable in (attention.query_dense.kernel, attention.query_dense.bias):
        value = to_numpy(variable)
        value[..., :size] = 0.0
        variable.assign(value)
    # Cross-attention head 2: its slice of W^O scaled up carries the output.
    attention = _attention_layer(model, "decoder_cross")
    kernel = to_numpy(attention.output_dense.kernel)
    kernel[2 * size : 3 * size] *= 50.0
    attention.output_dense.kernel.assign(kernel)

    statistics, issues = diagnose_heads(extract_attention(model, inputs))
    found = {(i.layer, i.head, i.condition) for i in issues}
    assert ("encoder_self_0", 0, "uniform") in found
    np.testing.assert_allclose(
        statistics["encoder_self_0"].entropy[:, 0], 1.0, atol=1e-5
    )
    dominant = {(layer, head) for layer, head, c in found if c == "dominant"}
    assert dominant == {("decoder_cross_0", 2)}
    shares = statistics["decoder_cross_0"].share
    np.testing.assert_allclose(shares.sum(-1), 1.0, atol=1e-5)
    assert shares[:, 2].min() > 0.9


def test_monitor_rejects_settings_that_never_measure():
    with pytest.raises(ValueError, match="every_epochs"):
        AttentionMonitor(_reversal_batch()[0], every_epochs=0, every_steps=0)
    with pytest.raises(ValueError, match="collapse_entropy"):
        AttentionMonitor(_reversal_batch()[0], collapse_entropy=0.99)
