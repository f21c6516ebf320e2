"""Greedy and beam search: cached equals uncached, beam 1 equals greedy,
scores are what they claim, limits hold, and every backend gives the same ids."""

import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer import decoding
from keras_transformer.decoding import (
    Generator,
    beam_search,
    cache_stages,
    greedy_search,
    length_penalty,
    output_length_limits,
    search,
    transformer_next_token_logits,
)
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID
from tests.harness import to_numpy
from tests.tiny import decoding_fixture, fixture_model, tiny_transformer

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
VOCABULARY_SIZE = 24


def _random_model():
    return tiny_transformer(VOCABULARY_SIZE, num_layers=2, dropout=0.0)


def _sources():
    rng = np.random.RandomState(3)
    sources = rng.randint(4, VOCABULARY_SIZE, (4, 6)).astype("int32")
    sources[1, 3:] = PAD_ID
    sources[3, 1:] = PAD_ID
    return sources


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _uncached_log_probs(model, source, prefix, width=16):
    """Next-token log probabilities from the full forward pass on a prefix.

    The decoder input is padded to a fixed `width` so the compiled forward
    pass is reused; causal masking keeps the padding out of the prefix.
    """
    decoder = np.zeros((1, width), "int32")
    decoder[0, : len(prefix) + 1] = [START_ID, *prefix]
    inputs = {"encoder_token_ids": source[None], "decoder_token_ids": decoder}
    logits = model.predict_on_batch(inputs)
    return _log_softmax(np.asarray(logits)[0, len(prefix)].astype("float64"))


def _sequence_log_prob(model, source, tokens):
    """Log probability of `tokens` (up to the end token) by one teacher-forced
    forward pass, and their number."""
    tokens = list(tokens[: list(tokens).index(END_ID) + 1])
    decoder = np.zeros((1, 16), "int32")
    decoder[0, : len(tokens)] = [START_ID, *tokens[:-1]]
    inputs = {"encoder_token_ids": source[None], "decoder_token_ids": decoder}
    logits = np.asarray(model.predict_on_batch(inputs))[0, : len(tokens)]
    log_probs = _log_softmax(logits.astype("float64"))
    return log_probs[np.arange(len(tokens)), tokens].sum(), len(tokens)


def test_cached_greedy_equals_greedy_with_the_full_forward_pass():
    model, sources = _random_model(), _sources()[1:]
    # A cache of 2 positions grows to 4 and 8 (the search length) on the way.
    generator = Generator(model, num_beams=1, max_length_offset=2, first_cache_length=2)
    outputs = generator.generate(sources)
    limits = to_numpy(output_length_limits((sources != 0).sum(1), 100, 1.0, 2))
    for row, source in enumerate(sources):
        expected = []
        while not expected or expected[-1] != END_ID:
            log_probs = _uncached_log_probs(model, source, expected)
            log_probs[[PAD_ID, START_ID]] = -np.inf
            if len(expected) + 1 >= limits[row]:
                expected.append(END_ID)
            else:
                expected.append(int(log_probs.argmax()))
        found = outputs["token_ids"][row, 0]
        np.testing.assert_array_equal(found[: len(expected)], expected)
        assert (found[len(expected) :] == PAD_ID).all()
        log_prob, _ = _sequence_log_prob(model, source, found)
        np.testing.assert_allclose(outputs["scores"][row, 0], log_prob, rtol=1e-4)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_beam_of_one_equals_greedy(alpha):
    model, sources = _random_model(), _sources()
    generator = Generator(model, num_beams=1, max_length_offset=6)
    greedy = generator.generate(sources)
    # Generator routes num_beams=1 to greedy search: call beam search itself.
    max_length = generator.search_length(sources.shape[1])
    limits = output_length_limits((sources != PAD_ID).sum(1), max_length, 1.0, 6)
    step, cache = transformer_next_token_logits(model, sources, max_length, 1)
    token_ids, scores = beam_search(step, cache, 4, 1, max_length, alpha, limits)
    np.testing.assert_array_equal(to_numpy(token_ids), greedy["token_ids"])
    lengths = (greedy["token_ids"][:, 0] != PAD_ID).sum(-1)
    penalty = to_numpy(length_penalty(lengths, alpha))
    np.testing.assert_allclose(
        to_numpy(scores)[:, 0] * penalty, greedy["scores"][:, 0], rtol=1e-5
    )


def test_beam_scores_are_length_normalized_log_probs_best_first():
    model, sources = _random_model(), _sources()
    generator = Generator(model, num_beams=3, max_length_offset=2, first_cache_length=2)
    outputs = generator.generate(sources)
    assert outputs["token_ids"].shape[:2] == (4, 3)
    for row, source in enumerate(sources):
        scores = outputs["scores"][row]
        assert (np.diff(scores) <= 1e-6).all(), "n-best is not sorted"
        hypotheses = {tuple(h) for h in outputs["token_ids"][row]}
        assert len(hypotheses) == 3, "beams repeat a hypothesis"
        for beam in range(3):
            log_prob, length = _sequence_log_prob(
                model, source, outputs["token_ids"][row, beam]
            )
            expected = log_prob / ((5 + length) / 6) ** 0.6
            np.testing.assert_allclose(scores[beam], expected, rtol=1e-4)


def test_power_normalized_scores_divide_by_length_to_the_alpha():
    model, sources = _random_model(), _sources()
    generator = Generator(
        model,
        num_beams=3,
        max_length_offset=2,
        length_penalty=1.5,
        length_normalization="power",
        early_stopping=True,
    )
    outputs = generator.generate(sources)
    for row, source in enumerate(sources):
        for beam in range(3):
            log_prob, length = _sequence_log_prob(
                model, source, outputs["token_ids"][row, beam]
            )
            np.testing.assert_allclose(
                outputs["scores"][row, beam], log_prob / length**1.5, rtol=1e-4
            )


class _MarkovTable:
    """A next-token callback from a fixed table of log probabilities indexed
    by the previous token; the cache carries nothing."""

    def __init__(self, table):
        self.table = ops.convert_to_tensor(np.log(np.asarray(table, "float32")))

    def __call__(self, token_ids, cache, index):
        return ops.take(self.table, token_ids, axis=0), cache


def _table(vocabulary_size, rows):
    table = np.full((vocabulary_size, vocabulary_size), 1e-9)
    for previous, probabilities in rows.items():
        for token, probability in probabilities.items():
            table[previous, token] = probability
    return table


def test_beam_search_finds_the_sequence_greedy_misses():
    # After START, token 4 (0.55) beats token 5 (0.45); but 4 leads to a
    # flat distribution, 5 to END with 0.9. The best sentence is "5 END".
    rows = {
        START_ID: {4: 0.55, 5: 0.45},
        4: {6: 0.25, 7: 0.25, 8: 0.25, 9: 0.25},
        5: {END_ID: 0.9, 6: 0.1},
        **{t: {END_ID: 1.0} for t in (6, 7, 8, 9)},
    }
    step = _MarkovTable(_table(10, rows))
    cache = ops.zeros((1, 1))
    greedy_ids, _ = greedy_search(step, cache, 1, 5)
    assert to_numpy(greedy_ids)[0, :2].tolist() == [4, 6]
    beam_ids, beam_scores = beam_search(step, ops.zeros((2, 1)), 1, 2, 5, 0.0)
    assert to_numpy(beam_ids)[0, 0, :2].tolist() == [5, END_ID]
    np.testing.assert_allclose(
        to_numpy(beam_scores)[0, 0], np.log(0.45 * 0.9), rtol=1e-5
    )


def test_early_stopping_ends_once_num_beams_hypotheses_have_finished():
    # Beam 2, scores log p / length (power, alpha 1). "END" (0.5) finishes
    # first, then "4 END" (0.3 * 0.6, scored -0.86): two finished, so early
    # stopping ends there with "END" (-0.69). The live "5 6" (-1.62 at
    # length 2, -0.81 > -0.86) can still win, so the default rule goes on
    # and finds "5 6 END" (-1.62 / 3 = -0.54).
    rows = {
        START_ID: {END_ID: 0.5, 4: 0.3, 5: 0.2},
        4: {END_ID: 0.6, 7: 0.4},
        5: {6: 0.99, END_ID: 0.01},
        6: {END_ID: 1.0},
        7: {END_ID: 1.0},
    }
    step = _MarkovTable(_table(8, rows))

    def best(early_stopping):
        ids, scores = beam_search(
            step,
            ops.zeros((2, 1)),
            1,
            2,
            6,
            1.0,
            length_normalization="power",
            early_stopping=early_stopping,
        )
        ids = to_numpy(ids)[0, 0]
        return ids[: list(ids).index(END_ID) + 1].tolist(), to_numpy(scores)[0, 0]

    tokens, score = best(early_stopping=True)
    assert tokens == [END_ID]
    np.testing.assert_allclose(score, np.log(0.5), rtol=1e-4)
    tokens, score = best(early_stopping=False)
    assert tokens == [5, 6, END_ID]
    np.testing.assert_allclose(score, np.log(0.2 * 0.99) / 3, rtol=1e-4)


def test_length_penalty_prefers_longer_hypotheses_as_alpha_grows():
    # "END" at once has probability 0.3; "4 4 4 END" has 0.7 * 0.8^2 * 0.8.
    rows = {START_ID: {END_ID: 0.3, 4: 0.7}, 4: {4: 0.8, END_ID: 0.2}}
    step = _MarkovTable(_table(6, rows))

    def best(alpha):
        ids, _ = beam_search(step, ops.zeros((3, 1)), 1, 3, 6, alpha)
        return (to_numpy(ids)[0, 0] != PAD_ID).sum()

    assert best(0.0) <= best(2.0)
    assert best(0.0) == 1  # END alone: log 0.3 beats every longer sentence
    assert best(2.0) > 1


def test_output_limits_follow_source_length_and_cap():
    limits = to_numpy(output_length_limits(np.array([0, 1, 10, 90]), 64, 1.5, 3))
    assert limits.tolist() == [1, 5, 18, 64]


def test_every_output_ends_within_its_limit():
    model, sources = _random_model(), _sources()
    for num_beams in (1, 3):
        generator = Generator(
            model, num_beams=num_beams, max_length_ratio=0.5, max_length_offset=1
        )
        outputs = generator.generate(sources)
        source_lengths = (sources != PAD_ID).sum(1)
        for row in range(len(sources)):
            for hypothesis in outputs["token_ids"][row]:
                length = list(hypothesis).index(END_ID) + 1
                assert length <= np.ceil(source_lengths[row] * 0.5) + 1
                assert (hypothesis[length:] == PAD_ID).all()


def test_empty_source_translates_to_the_end_token_alone():
    model = _random_model()
    sources = np.array([[5, 6, 7], [0, 0, 0]], "int32")
    for num_beams in (1, 2):
        generator = Generator(model, num_beams=num_beams, max_length_offset=4)
        outputs = generator.generate(sources)
        assert outputs["token_ids"][1, 0, 0] == END_ID
        assert (outputs["token_ids"][1, 0, 1:] == PAD_ID).all()


def test_padding_and_start_are_never_generated():
    model, sources = _random_model(), _sources()
    # Make padding and start the most likely tokens everywhere.
    embedding = model.decoder_token_embedding.embeddings
    values = to_numpy(embedding).copy()
    values[[PAD_ID, START_ID]] *= 50.0
    embedding.assign(values)
    for num_beams in (1, 3):
        generator = Generator(model, num_beams=num_beams, max_length_offset=4)
        ids = generator.generate(sources)["token_ids"]
        for hypothesis in ids.reshape(-1, ids.shape[-1]):
            length = list(hypothesis).index(END_ID)
            assert not np.isin(hypothesis[:length], [PAD_ID, START_ID]).any()


@pytest.mark.parametrize("width", [32000, 4100])  # a multiple of 128, and not
def test_top_k_in_chunks_equals_top_k(width):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, width)).astype("float32")
    values[1] = np.round(values[1])  # many ties
    values[2, 5:] = -np.inf  # fewer finite values than chunks
    values[3, -3:] = 50.0  # the best at the end, in the padded chunk
    values[4, :128] = 40.0 + np.arange(128)  # the best in one chunk
    # torch.topk orders equal values as it likes (and so ours there): the
    # indices of rows with ties are compared on the other backends only.
    exact_rows = [0, 4, 5] if keras.backend.backend() == "torch" else range(6)
    for length, k in ((width, 8), (64, 3)):  # 64: ranked whole
        found_values, found_indices = (
            to_numpy(x) for x in search.top_k_in_chunks(values[:, :length], k)
        )
        expected = np.argsort(-values[:, :length], axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(
            found_values, np.take_along_axis(values, expected, 1)
        )
        np.testing.assert_array_equal(
            np.take_along_axis(values, found_indices, 1), found_values
        )
        assert all(len(set(row)) == k for row in found_indices)
        np.testing.assert_array_equal(found_indices[exact_rows], expected[exact_rows])


@pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="only PyTorch compiles a step"
)
def test_top_k_in_chunks_compiles_as_one_graph():
    # A beam step over a real vocabulary ranks its extensions in chunks; the
    # compiled-step test's vocabulary is too small to take that path.
    import torch

    values = torch.randn(2, 4100)
    ranked = torch.compile(lambda v: search.top_k_in_chunks(v, 6), fullgraph=True)
    found_values, found_indices = ranked(values)  # raises at a graph break
    expected_values, expected_indices = torch.topk(values, 6)
    np.testing.assert_array_equal(to_numpy(found_values), to_numpy(expected_values))
    np.testing.assert_array_equal(to_numpy(found_indices), to_numpy(expected_indices))


def test_beam_search_over_a_large_vocabulary_ranks_as_top_k_does():
    """With 4 beams over 1,500 tokens (6,000 extensions a sentence) the step
    ranks through chunks; the outputs equal those of `ops.top_k`."""
    vocabulary_size, num_beams = 1500, 4
    assert num_beams * vocabulary_size >= 4 * 2 * num_beams * search.TOP_K_CHUNK
    rng = np.random.default_rng(5)
    logits = rng.normal(scale=3.0, size=(vocabulary_size, vocabulary_size))
    table = np.exp(logits - logits.max(-1, keepdims=True))
    step = _MarkovTable(table / table.sum(-1, keepdims=True))

    def run():
        cache = ops.zeros((2 * num_beams, 1))
        return [to_numpy(x) for x in beam_search(step, cache, 2, num_beams, 6, 0.6)]

    chunked_ids, chunked_scores = run()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "top_k_in_chunks", ops.top_k)
        plain_ids, plain_scores = run()
    np.testing.assert_array_equal(chunked_ids, plain_ids)
    np.testing.assert_allclose(chunked_scores, plain_scores, rtol=1e-6)
    assert len({tuple(row) for row in chunked_ids[0]}) == num_beams


def test_cache_stages_double_up_to_the_search_length():
    assert cache_stages(40, 8) == [8, 16, 32, 40]
    assert cache_stages(8, 16) == [8]
    assert cache_stages(40, None) == [40]
    # A length known at run time stages up to its static bound.
    length = ops.convert_to_tensor(12)
    assert cache_stages(length, 4, longest=20) == [4, 8, 16, 20]
    assert cache_stages(length, 4) == [length]


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="only TensorFlow graphs have sources of unknown length",
)
@pytest.mark.parametrize("num_beams", [1, 3])
def test_unknown_source_length_grows_the_cache_in_stages(num_beams):
    """An exported signature's sources have no static length, so the search
    length is a tensor; its cache still grows in stages (2, 4, 8, ... up to
    max_output_length) and it finds what the static-shape search finds."""
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    generator = Generator(
        _random_model(),
        num_beams=num_beams,
        max_length_offset=9,
        max_output_length=12,
        first_cache_length=2,
        jit_compile=False,
    )
    sources = _sources()
    expected = generator.generate(sources)
    stages = []
    resize = decoding.resize_self_attention_cache

    def recording_resize(cache, length):
        stages.append(length)
        return resize(cache, length)

    search = tf.function(
        generator.call,
        input_signature=[tf.TensorSpec((None, None), tf.int32)],
    )
    with pytest.MonkeyPatch.context() as patch:
        # The name Generator.call looks up.
        patch.setattr(
            decoding.generator, "resize_self_attention_cache", recording_resize
        )
        found = search(tf.constant(sources))
    assert stages == [2, 4, 8, 12]
    np.testing.assert_array_equal(found["token_ids"], expected["token_ids"])
    np.testing.assert_allclose(found["scores"], expected["scores"], rtol=1e-5)


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="only PyTorch compiles the search's step (JAX and TensorFlow compile "
    "the whole loop)",
)
def test_torch_compiled_step_finds_what_the_eager_search_finds():
    import torch

    keras.utils.set_random_seed(2)
    model = _random_model()
    settings = {
        "num_beams": 3,
        "max_length_offset": 6,
        "max_output_length": 8,
        "first_cache_length": 4,  # two cache stages: two step shapes
    }
    sources = _sources()
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()  # reset() keeps them
    # The model's layers have never been called: the compiled search comes
    # first, as it does for a model just loaded.
    generator = Generator(model, jit_compile=True, **settings)
    found = generator.generate(sources)
    # One compiled step per cache stage, each one whole graph: nothing sends
    # dynamo back to Python (Keras' flash-attention check did, once per
    # attention call), and nothing a step changes in Keras' state makes the
    # next step compile again (a layer's first call, the call context's
    # `training`).
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 2
    assert not torch._dynamo.utils.counters["graph_break"]
    expected = Generator(model, jit_compile=False, **settings).generate(sources)
    np.testing.assert_array_equal(found["token_ids"], expected["token_ids"])
    np.testing.assert_allclose(found["scores"], expected["scores"], rtol=1e-5)
    # Another batch of the same shape reuses the compiled steps.
    again = generator.generate(sources[::-1].copy())
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 2
    np.testing.assert_array_equal(again["token_ids"], found["token_ids"][::-1])


def _reversal_sources(lengths, width=8):
    """Digit sources (ids 4-13) of `lengths`, padded to `width`, for the
    decoding fixture's digit-reversal model."""
    rng = np.random.RandomState(7)
    sources = np.full((len(lengths), width), PAD_ID, "int32")
    for row, length in enumerate(lengths):
        sources[row, :length] = rng.randint(4, 14, length)
    return sources


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_sentences_that_are_done_leave_the_batch_with_their_outputs(search):
    """`generate` drops sentences that are done between compiled segments:
    12 of 16 sources are one digit, whose outputs end by position 3 (their
    limit), so the batch shrinks to 4 rows, then (greedy) to 1 for the 8
    digits; every sentence still gets what the whole-batch search gives it,
    across cache stages (2, 4, 8, 10)."""
    fixture = decoding_fixture()
    settings = json.loads(str(fixture["searches"]))[search]
    generator = Generator(
        fixture_model(fixture),
        max_length_offset=2,
        first_cache_length=2,
        drop_finished=True,
        **settings,
    )
    sources = _reversal_sources([1] * 12 + [4, 4, 4, 8])
    sources = sources[np.random.RandomState(0).permutation(16)]
    shrunk_to = []
    take = decoding.segments.take_sentences

    def recording_take(state, context, rows, num_beams):
        shrunk_to.append(len(rows))
        return take(state, context, rows, num_beams)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoding.segments, "take_sentences", recording_take)
        found = generator.generate(sources)
    whole = generator.predict_on_batch(sources)
    if search == "greedy":
        assert shrunk_to == [4, 1]
    else:
        assert shrunk_to[0] == 4
    np.testing.assert_array_equal(found["token_ids"], whole["token_ids"])
    np.testing.assert_allclose(found["scores"], whole["scores"], rtol=1e-5)


def test_auto_drops_finished_sentences_once_a_shape_recurs():
    """`drop_finished="auto"` searches a batch shape whole until it has
    searched `auto_drop_after` batches of it (on a CPU), then in segments."""
    fixture = decoding_fixture()
    generator = Generator(fixture_model(fixture), num_beams=1, max_length_offset=2)
    assert generator.drop_finished == "auto"
    generator.auto_drop_after = 1
    sources = _reversal_sources([1, 1, 1, 5])
    segmented = []
    search_in_segments = decoding.generator.search_in_segments

    def recording_search(*args):
        segmented.append(True)
        return search_in_segments(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decoding.generator, "search_in_segments", recording_search)
        first = generator.generate(sources)
        assert not segmented
        second = generator.generate(sources)
        assert segmented
        # Fewer rows than a quarter of which could be dropped: whole.
        generator.generate(sources[:3])
        assert len(segmented) == 1
    np.testing.assert_array_equal(first["token_ids"], second["token_ids"])


def test_a_batch_shrinks_by_quarters():
    assert decoding.segments.rows_for(9, 32) == 32
    assert decoding.segments.rows_for(8, 32) == 8
    assert decoding.segments.rows_for(3, 32) == 8
    assert decoding.segments.rows_for(2, 32) == 2
    assert decoding.segments.rows_for(1, 64) == 1
    assert decoding.segments.rows_for(1, 2) == 2


def test_generator_rejects_bad_settings():
    model = _random_model()
    with pytest.raises(ValueError, match="num_beams"):
        Generator(model, num_beams=0)
    with pytest.raises(ValueError, match="max_output_length"):
        Generator(model, max_output_length=0)
    with pytest.raises(ValueError, match="first_cache_length"):
        Generator(model, first_cache_length=0)
    with pytest.raises(ValueError, match="drop_finished must be True, False or"):
        Generator(model, drop_finished="yes")


@pytest.mark.parametrize("first_cache_length", [None, 3])
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_same_weights_give_the_fixture_ids_on_every_backend(search, first_cache_length):
    fixture = decoding_fixture()
    model = fixture_model(fixture)
    settings = json.loads(str(fixture["searches"]))[search]
    generator = Generator(
        model, max_length_offset=2, first_cache_length=first_cache_length, **settings
    )
    outputs = generator.generate(fixture["sources"])
    np.testing.assert_array_equal(outputs["token_ids"], fixture[f"{search}/token_ids"])
    np.testing.assert_allclose(
        outputs["scores"], fixture[f"{search}/scores"], rtol=1e-4, atol=1e-5
    )
