import collections

import keras
import numpy as np
import pytest

from keras_transformer.data.pipeline import (
    default_bucket_boundaries,
    make_translation_dataset,
    skip_epochs,
)
from keras_transformer.data.tokenizer import SubwordTokenizer
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID
from tests.data_helpers import make_pairs
from tests.tiny import tiny_transformer

PAIRS = make_pairs(400, seed=1)


@pytest.fixture(scope="module")
def tokenizer():
    return SubwordTokenizer.train([t for pair in PAIRS for t in pair], 60)


def _epoch(dataset):
    return [
        (
            {k: np.asarray(v) for k, v in inputs.items()},
            np.asarray(labels),
            np.asarray(weights),
        )
        for inputs, labels, weights in dataset
    ]


def test_batches_respect_budget_lengths_and_teacher_forcing(tokenizer):
    dataset, stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=40, token_budget=256
    )
    batches = _epoch(dataset)
    assert len(batches) == stats.batches
    shapes = {inputs["encoder_token_ids"].shape for inputs, _, _ in batches}
    assert shapes == set(stats.batch_shapes)
    for inputs, labels, weights in batches:
        source, decoder = inputs["encoder_token_ids"], inputs["decoder_token_ids"]
        assert source.shape == decoder.shape == labels.shape
        assert source.size <= 256 or source.shape[0] == 1
        assert source.shape[1] <= 40
        real = weights > 0
        np.testing.assert_array_equal(real, labels != PAD_ID)
        rows = real.any(1)
        assert np.all(decoder[rows, 0] == START_ID)
        # decoder input = start + target; labels = target + end
        for row in np.flatnonzero(rows):
            n = int(real[row].sum())
            np.testing.assert_array_equal(decoder[row, 1:n], labels[row, : n - 1])
            assert labels[row, n - 1] == END_ID


def test_no_pair_lost_or_repeated_and_long_pairs_counted(tokenizer):
    lengths = [len(np.asarray(tokenizer.tokenize(s))) for s, _ in PAIRS]
    max_length = int(np.median(lengths))
    dataset, stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=max_length, token_budget=128
    )
    expected = collections.Counter(
        tokenizer.detokenize(tokenizer.tokenize(s))
        for s, t in PAIRS
        if len(np.asarray(tokenizer.tokenize(s))) <= max_length
        and len(np.asarray(tokenizer.tokenize(t))) + 1 <= max_length
    )
    seen = collections.Counter()
    for inputs, _, weights in _epoch(dataset):
        for row in np.flatnonzero(weights.any(1)):
            seen[tokenizer.detokenize(inputs["encoder_token_ids"][row])] += 1
    assert seen == expected
    assert stats.pairs == sum(expected.values())
    assert stats.dropped_too_long == len(PAIRS) - stats.pairs > 0
    assert "dropped" in stats.describe()


def test_truncate_keeps_every_pair(tokenizer):
    dataset, stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=12, token_budget=128, long_pairs="truncate"
    )
    assert stats.pairs == len(PAIRS) and stats.truncated > 0
    assert all(
        inputs["encoder_token_ids"].shape[1] <= 12 for inputs, _, _ in _epoch(dataset)
    )


def test_deterministic_with_a_seed_and_shuffled_across_seeds(tokenizer):
    def first_sources(seed):
        dataset, _ = make_translation_dataset(
            PAIRS, tokenizer, max_length=40, token_budget=256, seed=seed
        )
        return [
            inputs["encoder_token_ids"].tolist() for inputs, _, _ in _epoch(dataset)
        ]

    assert first_sources(3) == first_sources(3)
    assert first_sources(3) != first_sources(4)


def test_skipped_epochs_start_a_new_dataset_at_a_later_epochs_order(tokenizer):
    """What a resumed run relies on (skip_epochs): a dataset built alike and
    advanced by two epochs yields the third epoch's batches."""

    def build():
        keras.utils.set_random_seed(0)
        dataset, _ = make_translation_dataset(
            PAIRS, tokenizer, max_length=40, token_budget=256, seed=3
        )
        return dataset

    def sources(dataset):
        return [
            inputs["encoder_token_ids"].tolist() for inputs, _, _ in _epoch(dataset)
        ]

    uninterrupted = build()
    epochs = [sources(uninterrupted) for _ in range(3)]
    assert epochs[0] != epochs[2]
    assert sources(skip_epochs(build(), 2)) == epochs[2]


def test_streaming_source_gives_the_same_batches(tokenizer):
    listed, _ = make_translation_dataset(PAIRS, tokenizer, max_length=40, shuffle=False)
    streamed, _ = make_translation_dataset(
        lambda: iter(PAIRS), tokenizer, max_length=40, shuffle=False
    )
    for a, b in zip(_epoch(listed), _epoch(streamed), strict=True):
        np.testing.assert_array_equal(a[1], b[1])


def test_disk_cache_gives_the_same_batches(tokenizer, tmp_path):
    in_memory, _ = make_translation_dataset(PAIRS, tokenizer, max_length=40, seed=2)
    prefix = str(tmp_path / "tokenized")
    on_disk, stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=40, seed=2, cache_path=prefix
    )
    assert any(p.name.startswith("tokenized") for p in tmp_path.iterdir())
    for a, b in zip(_epoch(in_memory), _epoch(on_disk), strict=True):
        np.testing.assert_array_equal(a[1], b[1])
    # A second pipeline over the same prefix reads the finished cache.
    again, again_stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=40, seed=2, cache_path=prefix
    )
    assert again_stats == stats


def test_feeds_model_fit(tokenizer):
    dataset, stats = make_translation_dataset(
        PAIRS, tokenizer, max_length=40, token_budget=256
    )
    model = tiny_transformer(tokenizer.vocabulary_size)
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_boundaries_and_errors(tokenizer):
    boundaries = default_bucket_boundaries(100)
    assert boundaries == sorted(set(boundaries)) and boundaries[-1] == 101
    with pytest.raises(ValueError, match="long_pairs"):
        make_translation_dataset(PAIRS, tokenizer, long_pairs="clip")
    with pytest.raises(ValueError, match="must exceed"):
        make_translation_dataset(
            PAIRS, tokenizer, max_length=50, bucket_boundaries=[8, 50]
        )
