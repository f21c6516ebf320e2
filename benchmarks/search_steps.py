"""How many sentence-steps a translation search runs, by how it drops
sentences that are done.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/search_steps.py \
        runs/multi30k_cpu/translator \
        --source-file data/multi30k/test_2016_flickr.en

A batched search's step costs about in proportion to the rows it computes
(`decoding_throughput.py --engines-only --batch-size N` times steps over N
sentences). This script counts those rows on a real test set. It searches
the translator's batches as `Translator.translate` makes them (longest
sources first, `--batch-size` sentences), with the translator's beam and
CTranslate2's stopping rule (`length_normalization="power"`,
`early_stopping=True`), one step at a time; records the step at which each
sentence is done; and counts the sentence-steps (one sentence, all its
beams, at one step) of:

- whole batches: every row to the batch's last step
  (`Generator(drop_finished=False)`);
- quarters: a batch shrinks to a quarter of its rows (or a sixteenth, ...)
  once the sentences still searching fit there, as `Generator(
  drop_finished=True)` does (`decoding.segments`); each shrink starts one
  more segment (a compiled call; `Generator` also starts one at each
  cache stage's end);
- halves: the same, shrinking by halves;
- every step: each sentence leaves the batch the step it is done, as
  CTranslate2 does;
- refilled rows: `--batch-size` rows, a finished sentence's row taken at
  once by the next waiting sentence (continuous batching), across batches.

The search runs eagerly (nothing to compile): Multi30k's test2016 took
77 s on a 2-core CPU with JAX.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_transformer import Translator  # noqa: E402
from keras_transformer.decoding.cache import cache_stages  # noqa: E402
from keras_transformer.decoding.segments import rows_for  # noqa: E402
from keras_transformer.decoding.transformer_step import (  # noqa: E402
    resize_self_attention_cache,
)
from keras_transformer.translator import search_in_batches  # noqa: E402


class DoneStepRecorder:
    """Stands in for a `Generator` in `search_in_batches`: searches each
    batch one step at a time and records, per batch, the step at which each
    of its rows is done (1 for the first step)."""

    def __init__(self, generator):
        self.generator = generator
        self.longest_source = generator.longest_source
        self.done_steps = []  # one int array per batch, padding rows included

    def generate(self, encoder_token_ids):
        generator = self.generator
        state, context = generator.search_start(encoder_token_ids)
        step = generator.search_step(context)
        stages = cache_stages(
            state.max_length, generator.first_cache_length, generator.longest_output
        )
        done_at = np.zeros(len(encoder_token_ids), "int32")
        while not done_at.all():
            index = int(state.index)
            if index >= stages[0]:
                stages = stages[1:]
                cache = resize_self_attention_cache(state.cache, stages[0])
                state = state._replace(cache=cache)
            state = step(state)
            done = keras.ops.convert_to_numpy(state.done)
            done_at[(done_at == 0) & done] = index + 1
        self.done_steps.append(done_at)
        token_ids, scores = generator.search_outputs(state)
        return {
            "token_ids": keras.ops.convert_to_numpy(token_ids),
            "scores": keras.ops.convert_to_numpy(scores),
        }


def shrinking_steps(done_at, factor):
    """(sentence-steps, segments) of a batch whose rows are done at the
    steps `done_at`, shrunk by `factor` (to rows / factor ** k) once the
    sentences still searching fit; `factor=None`: never shrunk."""
    rows = len(done_at)
    sentence_steps, segments = 0, 1
    for step in range(1, int(done_at.max()) + 1):
        sentence_steps += rows
        searching = int((done_at > step).sum())
        if factor is None or not searching:
            continue
        shrunk = rows_for(searching, rows, factor)
        if shrunk < rows:
            rows, segments = shrunk, segments + 1
    return sentence_steps, segments


def refilled_steps(done_steps, rows):
    """(sentence-steps, steps) of `rows` rows searching the sentences of
    `done_steps` (each one's number of steps, in order), each row taking the
    next waiting sentence the step its sentence is done."""
    waiting = list(done_steps)[::-1]
    left = [0] * rows  # steps left of each row's sentence; 0: free
    steps = 0
    while waiting or any(left):
        for row in range(rows):
            if not left[row] and waiting:
                left[row] = waiting.pop()
        steps += 1
        left = [max(0, steps_left - 1) for steps_left in left]
    return rows * steps, steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("translator", help="a translator directory")
    parser.add_argument("--source-file", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1; received {args.batch_size}")
    try:
        translator = Translator.load(
            args.translator,
            length_normalization="power",
            early_stopping=True,
            drop_finished=False,
        )
        with open(args.source_file, encoding="utf-8") as file:
            sources = [line.rstrip("\n") for line in file]
    except (OSError, ValueError) as error:  # missing, unreadable, not UTF-8
        parser.error(str(error))  # exits 2
    if not sources:
        parser.error(f"--source-file {args.source_file} has no lines")

    recorder = DoneStepRecorder(translator.generator)
    search_in_batches(
        recorder, translator.encode_sources(sources), args.batch_size, verbose=True
    )
    batches = recorder.done_steps
    every_row = np.concatenate(batches)
    print(
        f"\n{len(sources)} sentences, {len(batches)} batches of up to "
        f"{args.batch_size} (rows padded to a power of two), beam "
        f"{translator.generator.settings.num_beams}, backend "
        f"{keras.backend.backend()}\n"
    )
    per_step = int(every_row.sum())
    rows = [
        ("whole batches", *_totals(batches, None)),
        ("quarters (drop_finished=True)", *_totals(batches, 4)),
        ("halves", *_totals(batches, 2)),
        ("every step (CTranslate2)", per_step, None),
    ]
    refilled, steps = refilled_steps(every_row, args.batch_size)
    name = f"refilled rows: {args.batch_size} rows, {steps} steps"
    rows.append((name, refilled, None))
    print("| dropping | sentence-steps | / every step | segments |")
    print("|---|--:|--:|--:|")
    for name, sentence_steps, segments in rows:
        print(
            f"| {name} | {sentence_steps:,} | {sentence_steps / per_step:.2f} "
            f"| {'' if segments is None else segments} |"
        )


def _totals(batches, factor):
    counts = [shrinking_steps(done_at, factor) for done_at in batches]
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


if __name__ == "__main__":
    main()
