"""Input pipeline throughput against the rate the model consumes batches.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/pipeline_throughput.py \
        [--data-dir data/multi30k] [--model-steps 10]

Trains a joint SentencePiece vocabulary on the Multi30k training set, builds
the bucketed tf.data pipeline, and times (1) the first pass, which reads and
tokenizes every pair, counts them and fills the cache, (2) an epoch from the
cache, and (3) `transformer_small` training steps (`train_on_batch`) on the
same batches.
It prints target tokens/s and batches/s of each and the ratio pipeline /
model: the pipeline should be at least 10x faster than the model consumes,
so training never waits for data.
"""

import argparse
import datetime
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_transformer import Transformer  # noqa: E402
from keras_transformer.data.lines import CorpusError  # noqa: E402
from keras_transformer.data.pipeline import make_translation_dataset  # noqa: E402
from keras_transformer.data.readers import find_splits  # noqa: E402
from keras_transformer.data.tokenizer import SubwordTokenizer  # noqa: E402

DEFAULT_DATA = "data/multi30k"  # train.en/.de, val.en/.de, test_2016_flickr.en/.de


def _time_epoch(dataset):
    start = time.perf_counter()
    batches = tokens = 0
    for _, _, weights in dataset:
        batches += 1
        tokens += int(np.asarray(weights).sum())
    return time.perf_counter() - start, batches, tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--token-budget", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--model-steps", type=int, default=10)
    args = parser.parse_args()

    try:
        train = find_splits(args.data_dir, "en", "de")["train"]
    except CorpusError as error:
        parser.error(str(error))  # exits 2
    start = time.perf_counter()
    tokenizer = SubwordTokenizer.train(
        (text for pair in train.read() for text in pair), args.vocabulary_size
    )
    tokenizer_seconds = time.perf_counter() - start

    dataset, stats = make_translation_dataset(
        train.read,
        tokenizer,
        max_length=args.max_length,
        token_budget=args.token_budget,
    )
    first = _time_epoch(dataset)
    cached = _time_epoch(dataset)

    model = Transformer.from_preset(
        "transformer_small", vocabulary_size=tokenizer.vocabulary_size
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    batches = list(
        dataset.take(args.model_steps + len(stats.batch_shapes)).as_numpy_iterator()
    )
    for inputs, labels, weights in batches[: len(stats.batch_shapes)]:
        model.train_on_batch(inputs, labels, sample_weight=weights)  # compile
    timed = batches[len(stats.batch_shapes) :]
    start = time.perf_counter()
    for inputs, labels, weights in timed:
        model.train_on_batch(inputs, labels, sample_weight=weights)
    model_seconds = time.perf_counter() - start
    model_tokens = sum(int(np.asarray(w).sum()) for _, _, w in timed)

    machine = f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})"
    print(
        f"## Pipeline throughput, backend {keras.backend.backend()}\n\n"
        f"{datetime.date.today()}, {machine}; "
        f"Multi30k train, joint unigram vocabulary of {tokenizer.vocabulary_size} "
        f"(trained in {tokenizer_seconds:.1f} s), max_length {args.max_length}, "
        f"token budget {args.token_budget}.\n\n"
        f"{stats.describe()}.\n"
    )
    print("| what | seconds | batches/s | target tokens/s | pipeline / model |")
    print("|---|--:|--:|--:|--:|")
    model_rate = model_tokens / model_seconds
    for name, (seconds, batches_seen, tokens) in (
        ("pipeline, first pass: read, tokenize, count, cache", first),
        ("pipeline, epoch from the cache: shuffle, bucket, pad", cached),
    ):
        print(
            f"| {name} | {seconds:.2f} | {batches_seen / seconds:,.0f} | "
            f"{tokens / seconds:,.0f} | {tokens / seconds / model_rate:,.0f}x |"
        )
    print(
        f"| model: transformer_small train_on_batch ({len(timed)} steps) | "
        f"{model_seconds:.2f} | {len(timed) / model_seconds:.2f} | "
        f"{model_rate:,.0f} | 1x |"
    )


if __name__ == "__main__":
    main()
