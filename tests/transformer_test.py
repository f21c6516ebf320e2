"""The seq2seq model: presets, tying, padding, caching, saving, precision."""

import os

import keras
import numpy as np
import pytest

from keras_transformer import Transformer
from keras_transformer.models.presets import (
    PAPER_PARAMETER_COUNTS,
    PAPER_ROW_B_PARAMETER_COUNTS,
    PRESETS,
)
from tests.harness import dtype_name, to_numpy
from tests.tiny import tiny_transformer

SMALL = {
    "vocabulary_size": 40,
    "num_layers": 2,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
    "dropout": 0.0,
}


def _jax_on_cpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.devices()[0].platform == "cpu"


def _batch(seed=0, vocab=40):
    rng = np.random.RandomState(seed)
    source = rng.randint(3, vocab, (3, 7)).astype("int32")
    source[0, 5:] = 0
    source[2, 3:] = 0
    target = rng.randint(3, vocab, (3, 6)).astype("int32")
    target[:, 0] = 1
    target[1, 4:] = 0
    return {"encoder_token_ids": source, "decoder_token_ids": target}


@pytest.mark.parametrize("preset", sorted(PAPER_PARAMETER_COUNTS))
def test_paper_presets_have_the_papers_size(preset):
    """Table 3: 65M (base) and 213M (big) with a shared 37k vocabulary."""
    config = PRESETS[preset]
    assert config["num_layers"] == 6
    assert config["hidden_dim"] // config["num_heads"] == 64  # d_k = d_v = 64
    model = Transformer.from_preset(preset)
    paper = PAPER_PARAMETER_COUNTS[preset]
    assert abs(model.count_params() - paper) / paper < 0.05


@pytest.mark.parametrize("key_dim", sorted(PAPER_ROW_B_PARAMETER_COUNTS))
def test_table_3_row_b_has_the_papers_size(key_dim):
    """Row (B) varies d_k at fixed d_model (d_v stays 64): 58M and 60M."""
    model = Transformer.from_preset("transformer_base", key_dim=key_dim)
    attention = model.decoder.blocks[0].cross_attention
    assert (attention.key_dim, attention.value_dim) == (key_dim, 64)
    paper = PAPER_ROW_B_PARAMETER_COUNTS[key_dim]
    assert abs(model.count_params() - paper) / paper < 0.05


def test_a_misspelled_argument_is_an_error_naming_the_right_one():
    with pytest.raises(TypeError, match="'num_head' \\(did you mean 'num_heads'\\?\\)"):
        Transformer(**SMALL, num_head=4)
    with pytest.raises(TypeError, match="'depth'"):
        Transformer(**SMALL, depth=4)
    # What a Keras model takes is passed on.
    assert Transformer(**SMALL, name="mine", trainable=False).name == "mine"


def test_three_way_tying_shares_one_matrix():
    tied = Transformer(**SMALL)
    untied = Transformer(**SMALL, tie_embeddings=False)
    separate = Transformer(**SMALL, target_vocabulary_size=30)
    assert untied.count_params() - tied.count_params() == 40 * 16
    assert separate.count_params() - tied.count_params() == 30 * 16
    assert tied.encoder_token_embedding is tied.decoder_token_embedding
    logits = separate(_batch(vocab=30))
    assert tuple(logits.shape) == (3, 6, 30)


def test_unknown_preset_and_bad_arguments():
    with pytest.raises(ValueError, match="Available"):
        Transformer.from_preset("transformer_huge")
    with pytest.raises(ValueError, match="position_encoding"):
        Transformer(**SMALL, position_encoding="rotary")
    with pytest.raises(ValueError, match="divisible"):
        Transformer(**{**SMALL, "num_heads": 3})


def test_logits_are_float32_and_padding_never_leaks():
    model = Transformer(**SMALL)
    batch = _batch()
    logits = model(batch)
    assert dtype_name(logits) == "float32"
    changed = {k: v.copy() for k, v in batch.items()}
    changed["encoder_token_ids"][0, 5:] = 0  # already padding: re-pad differently
    changed["encoder_token_ids"][2, 3:] = 0
    # Replace padded source positions by padding-looking tokens that are *not*
    # the padding id, but keep the mask by giving the masks explicitly.
    masked = Transformer(**SMALL, padding_mask_inputs=True)
    masked.set_weights(model.get_weights())
    masks = {
        "encoder_padding_mask": batch["encoder_token_ids"] != 0,
        "decoder_padding_mask": batch["decoder_token_ids"] != 0,
    }
    scrambled = {k: v.copy() for k, v in batch.items()}
    scrambled["encoder_token_ids"][batch["encoder_token_ids"] == 0] = 7
    scrambled["decoder_token_ids"][batch["decoder_token_ids"] == 0] = 9
    a = to_numpy(masked({**batch, **masks}))
    b = to_numpy(masked({**scrambled, **masks}))
    real = batch["decoder_token_ids"] != 0
    np.testing.assert_allclose(a[real], b[real], atol=1e-5)
    np.testing.assert_allclose(a, to_numpy(logits), atol=1e-5)


@pytest.mark.parametrize("position_encoding", ["sinusoidal", "learned"])
@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("key_dim", [None, 3])  # 3: d_k != d_v (8)
def test_cached_decoding_equals_full_forward_pass(
    position_encoding, normalize_first, key_dim
):
    model = Transformer(
        **SMALL,
        position_encoding=position_encoding,
        max_sequence_length=16,
        normalize_first=normalize_first,
        key_dim=key_dim,
    )
    batch = _batch()
    batch["decoder_token_ids"][1, 4:] = 5  # the cache path sees no padding
    full = to_numpy(model(batch))
    source = batch["encoder_token_ids"]
    encoder_output = model.encode(source)
    cross_cache = model.compute_cross_attention_cache(encoder_output)
    self_cache = model.initial_self_attention_cache(3, 6)
    steps = []
    for index in range(6):
        logits, self_cache = model.decode_with_cache(
            batch["decoder_token_ids"][:, index : index + 1],
            self_cache,
            cross_cache,
            index,
            source != 0,
        )
        steps.append(to_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-4)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"target_vocabulary_size": 30, "position_encoding": "learned"},
        {"key_dim": 4},
    ],
)
def test_keras_save_and_load_in_safe_mode(tmp_path, options):
    model = Transformer(**SMALL, **options)
    batch = _batch(vocab=30)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, Transformer)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(
        to_numpy(restored(batch)), to_numpy(model(batch)), atol=1e-6
    )
    # The incremental-decoding methods survive the round trip.
    assert tuple(restored.encode(batch["encoder_token_ids"]).shape) == (3, 7, 16)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    reference = Transformer(**SMALL)
    batch = _batch()
    expected = to_numpy(reference(batch))
    keras.config.set_dtype_policy(policy)
    model = Transformer(**SMALL)
    model.set_weights(reference.get_weights())
    assert model.encoder.compute_dtype == policy.removeprefix("mixed_")
    assert model.encoder.variable_dtype == "float32"
    logits = model(batch)
    assert dtype_name(logits) == "float32"
    logits = to_numpy(logits)
    assert np.all(np.isfinite(logits))
    tolerance = 0.05 if policy == "mixed_float16" else 0.3
    np.testing.assert_allclose(logits, expected, atol=tolerance)
    if policy == "mixed_float16" and _jax_on_cpu():
        pytest.skip(
            "XLA on CPU has no float16 dot_general with float32 accumulation; "
            "keras.layers.MultiHeadAttention cannot train there either."
        )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    labels = np.roll(batch["decoder_token_ids"], -1, axis=1)
    history = model.fit(batch, labels, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_learns_to_reverse_a_sequence():
    """A toy task to near-perfect accuracy in seconds with model.fit."""
    vocab, length, start, count = 14, 6, 1, 4096
    rng = np.random.RandomState(0)
    source = rng.randint(3, vocab, (count, length)).astype("int32")
    target = source[:, ::-1]
    decoder_inputs = np.concatenate([np.full((count, 1), start), target[:, :-1]], 1)
    model = tiny_transformer(
        vocab,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
        dropout=0.0,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    inputs = {"encoder_token_ids": source, "decoder_token_ids": decoder_inputs}
    model.fit(inputs, target, batch_size=64, epochs=6, verbose=0)
    accuracy = model.evaluate(inputs, target, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.98, accuracy
