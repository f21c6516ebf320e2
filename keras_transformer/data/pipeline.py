"""The tf.data pipeline from sentence pairs to `model.fit` batches.

read → tokenize (in parallel, inside tf.data) → drop or truncate long pairs →
teacher forcing (decoder input = start + target, labels = target + end) →
cache → shuffle → batch by a token budget with length bucketing (similar
lengths together, as fairseq's `--max-tokens`) → shuffle batches → prefetch.

Every batch of a bucket is padded to the bucket's length, and the last,
partial batch of a bucket is padded with empty rows (sample weight 0) to the
bucket's batch size, so an epoch has exactly one batch shape per bucket:
XLA-compiled backends compile once per bucket, and no pair is dropped to
keep shapes static. The same batches feed `model.fit` on TensorFlow, JAX
and PyTorch.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from keras_transformer.data.readers import CorpusError
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID

LONG_PAIR_POLICIES = ("drop", "truncate")


@dataclasses.dataclass(frozen=True)
class PipelineStats:
    """What one epoch of a pipeline holds, counted when it is built."""

    pairs: int
    dropped_too_long: int
    truncated: int
    max_length: int
    batches: int
    batch_shapes: tuple
    target_tokens: int

    def describe(self):
        parts = [f"{self.pairs:,} pairs in {self.batches:,} batches"]
        if self.dropped_too_long:
            parts.append(
                f"dropped {self.dropped_too_long:,} pairs longer than "
                f"{self.max_length} tokens"
            )
        if self.truncated:
            parts.append(
                f"truncated {self.truncated:,} pairs to {self.max_length} tokens"
            )
        parts.append(f"{len(self.batch_shapes)} batch shapes (one per bucket)")
        return "; ".join(parts)


def default_bucket_boundaries(max_length, smallest=8, growth=1.25):
    """Geometric bucket boundaries up to `max_length + 1`.

    A pair whose longer side (with its start/end token) has `n` tokens goes
    to the first bucket with boundary `> n` and is padded to boundary - 1.
    """
    boundaries, boundary = [], smallest
    while boundary < max_length + 1:
        boundaries.append(boundary)
        boundary = max(boundary + 1, int(boundary * growth + 0.5))
        boundary += boundary % 2  # even lengths
    boundaries.append(max_length + 1)
    return boundaries


def _pairs_dataset(pairs, errors):
    """A dataset of (source, target) strings from a list or a re-iterable.

    tf.data reports an exception raised by a generator as its own error, with
    the Python traceback as text; a `CorpusError` is also appended to
    `errors`, so that the pipeline can raise it as it is.
    """
    if callable(pairs):
        stream = pairs

        def generator():
            try:
                yield from stream()
            except CorpusError as error:
                errors.append(error)
                raise
    elif isinstance(pairs, (list, tuple)):
        return tf.data.Dataset.from_tensor_slices(
            (
                tf.constant([p[0] for p in pairs], tf.string),
                tf.constant([p[1] for p in pairs], tf.string),
            )
        )
    else:

        def generator():
            return iter(pairs)

    spec = tf.TensorSpec((), tf.string)
    return tf.data.Dataset.from_generator(generator, output_signature=(spec, spec))


def _tokenize_and_fit(source_tokenizer, target_tokenizer, max_length, truncate):
    """Maps a batch of string pairs to ragged (source ids, decoder input ids,
    label ids) and a flag for pairs over `max_length`."""

    def tokenize(source, target):
        source_ids = source_tokenizer.tf_tokenize(source)  # (B, None) ragged
        target_ids = target_tokenizer.tf_tokenize(target)
        too_long = tf.logical_or(
            source_ids.row_lengths() > max_length,
            target_ids.row_lengths() + 1 > max_length,
        )
        if truncate:
            source_ids = source_ids[:, :max_length]
            target_ids = target_ids[:, : max_length - 1]
        column = tf.ones([tf.shape(source)[0], 1], tf.int32)
        decoder_ids = tf.concat([column * START_ID, target_ids], axis=1)
        labels = tf.concat([target_ids, column * END_ID], axis=1)
        return source_ids, decoder_ids, labels, too_long

    return tokenize


def make_translation_dataset(
    pairs,
    source_tokenizer,
    target_tokenizer=None,
    max_length=128,
    token_budget=4096,
    long_pairs="drop",
    shuffle=True,
    seed=0,
    bucket_boundaries=None,
    shuffle_buffer=100_000,
    cache_path=None,
):
    """Builds the training or evaluation dataset and counts what it holds.

    Args:
        pairs: `(source, target)` string pairs: a list, or a callable that
            returns a fresh iterator (e.g. `corpus_files.read`), for corpora
            larger than memory.
        source_tokenizer: a `SubwordTokenizer`.
        target_tokenizer: defaults to `source_tokenizer` (joint vocabulary).
        max_length: the longest sequence in tokens: source ids, and target
            ids plus the start or end token.
        token_budget: padded tokens per batch (batch size × bucket length),
            like fairseq's `--max-tokens`.
        long_pairs: `"drop"` pairs with a side over `max_length` (counted in
            the stats) or `"truncate"` them.
        shuffle: shuffle pairs and batches every epoch (seeded).
        seed: the shuffle seed; the same seed gives the same batches.
        bucket_boundaries: see `default_bucket_boundaries`.
        shuffle_buffer: pairs held for shuffling.
        cache_path: a file prefix to cache the tokenized pairs on disk
            (for corpora whose tokens do not fit in memory); in memory when
            `None`. A complete cache at that prefix is reused as it is.

    Returns:
        `(dataset, stats)`: the dataset yields `(inputs, labels,
        sample_weight)` with `inputs = {"encoder_token_ids",
        "decoder_token_ids"}`, int32, padded with 0, and sample weights 1.0
        at label tokens and 0.0 at padding; `stats` is a `PipelineStats`.
        The tokenized pairs are cached (in memory, or at `cache_path`) by a
        first pass that counts them; later epochs read the cache.
    """
    if long_pairs not in LONG_PAIR_POLICIES:
        raise ValueError(
            f"long_pairs must be one of {LONG_PAIR_POLICIES}; received {long_pairs!r}."
        )
    target_tokenizer = target_tokenizer or source_tokenizer
    boundaries = list(bucket_boundaries or default_bucket_boundaries(max_length))
    if boundaries[-1] <= max_length:
        raise ValueError(
            f"The last bucket boundary ({boundaries[-1]}) must exceed "
            f"max_length ({max_length})."
        )
    batch_sizes = [max(1, token_budget // (b - 1)) for b in boundaries]

    # Tokenized in batches (one op call per 512 pairs), then split again.
    # The counting pass fills the cache, so each pair is tokenized once.
    corpus_errors = []
    tokenized = (
        _pairs_dataset(pairs, corpus_errors)
        .batch(512)
        .map(
            _tokenize_and_fit(
                source_tokenizer, target_tokenizer, max_length, long_pairs == "truncate"
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .unbatch()
        .cache(cache_path or "")
    )
    try:
        counts = _count(tokenized, boundaries, keep_long=long_pairs == "truncate")
    except tf.errors.OpError:
        if corpus_errors:  # the reader's own message, not tf.data's wrapping
            raise corpus_errors[-1] from None
        raise
    examples = tokenized
    if long_pairs == "drop":
        examples = examples.filter(
            lambda source, decoder, labels, too_long: tf.logical_not(too_long)
        )
    examples = examples.map(
        lambda source, decoder, labels, _: (source, decoder, labels)
    )
    if shuffle:
        examples = examples.shuffle(shuffle_buffer, seed=seed)

    def length(source, decoder, labels):
        return tf.maximum(tf.size(source), tf.size(decoder))

    batches = examples.bucket_by_sequence_length(
        length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=batch_sizes + [1],
        padded_shapes=([None], [None], [None]),
        padding_values=(PAD_ID, PAD_ID, PAD_ID),
        pad_to_bucket_boundary=True,
    )
    batches = batches.map(_fill_batch(boundaries, batch_sizes))
    if shuffle:
        batches = batches.shuffle(1024, seed=seed + 1)
    bucket_counts = counts["bucket_counts"]
    num_batches = int(np.sum(np.ceil(bucket_counts / batch_sizes)))
    batches = batches.apply(tf.data.experimental.assert_cardinality(num_batches))
    options = tf.data.Options()
    options.deterministic = True
    batches = batches.with_options(options).prefetch(tf.data.AUTOTUNE)

    stats = PipelineStats(
        pairs=int(bucket_counts.sum()),
        dropped_too_long=counts["too_long"] if long_pairs == "drop" else 0,
        truncated=counts["too_long"] if long_pairs == "truncate" else 0,
        max_length=max_length,
        batches=num_batches,
        batch_shapes=tuple(
            (size, boundary - 1)
            for size, boundary, count in zip(
                batch_sizes, boundaries, bucket_counts, strict=True
            )
            if count
        ),
        target_tokens=counts["target_tokens"],
    )
    return batches, stats


def skip_epochs(dataset, count):
    """Advances a reshuffling dataset by `count` epochs, without reading them.

    A shuffle that reshuffles each iteration draws that iteration's seeds
    from the dataset's seed generator as the iteration starts; starting
    `count` iterations (one element each) therefore gives the next one,
    the first that `fit` runs, epoch `count`'s order, so a run resumed at
    epoch `count` sees the batches an uninterrupted run saw there (a new
    dataset starts at epoch 0's order). `fit` must start one iteration per
    epoch and no other: give it `steps_per_epoch` (without it, Keras' TF
    backend starts a spare iteration at each epoch's end). Checked by
    `tests/pipeline_test.py` and, through `fit` on every backend,
    `tests/epoch_end_kill_test.py`.
    """
    for _ in range(count):
        next(iter(dataset), None)
    return dataset


def _count(tokenized, boundaries, keep_long):
    """One pass: pairs per bucket, long pairs, and label tokens."""
    boundaries_tensor = tf.constant(boundaries, tf.int32)

    def step(state, element):
        source, decoder, labels, too_long = element
        length = tf.maximum(tf.size(source), tf.size(decoder))
        bucket = tf.reduce_sum(tf.cast(boundaries_tensor <= length, tf.int32))
        keep = tf.logical_or(keep_long, tf.logical_not(too_long))
        bucket_counts, long_count, tokens = state
        one_hot = tf.one_hot(bucket, len(boundaries), dtype=tf.int64)
        bucket_counts += one_hot * tf.cast(keep, tf.int64)
        long_count += tf.cast(too_long, tf.int64)
        tokens += tf.cast(keep, tf.int64) * tf.cast(tf.size(labels), tf.int64)
        return bucket_counts, long_count, tokens

    initial = (
        tf.zeros(len(boundaries), tf.int64),
        tf.constant(0, tf.int64),
        tf.constant(0, tf.int64),
    )
    bucket_counts, long_count, tokens = tokenized.reduce(initial, step)
    return {
        "bucket_counts": bucket_counts.numpy(),
        "too_long": int(long_count),
        "target_tokens": int(tokens),
    }


def _fill_batch(boundaries, batch_sizes):
    """Pads a bucket's last, partial batch with empty rows to full size, and
    shapes the batch for `model.fit`."""
    boundaries_tensor = tf.constant(boundaries, tf.int32)
    sizes_tensor = tf.constant(batch_sizes, tf.int32)

    def fill(source, decoder, labels):
        length = tf.shape(source)[1]
        bucket = tf.reduce_sum(tf.cast(boundaries_tensor - 1 < length, tf.int32))
        full = sizes_tensor[bucket]
        missing = [[0, full - tf.shape(source)[0]], [0, 0]]
        source, decoder, labels = (
            tf.pad(x, missing, constant_values=PAD_ID)
            for x in (source, decoder, labels)
        )
        inputs = {"encoder_token_ids": source, "decoder_token_ids": decoder}
        return inputs, labels, tf.cast(tf.not_equal(labels, PAD_ID), tf.float32)

    return fill
