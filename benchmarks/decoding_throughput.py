"""Decoding throughput: cached vs uncached beam search, against Marian.

Run once per backend (each in its own process):

    KERAS_BACKEND=jax .venv/bin/python benchmarks/decoding_throughput.py \
        --data-dir data/multi30k

It translates Multi30k test2016 sources (tokenized with a SentencePiece
model trained on the training split) with beam 4 and a forced output length
(a randomly initialized model; every hypothesis runs to the length, so all
systems do the same work), and prints sentences/s and output tokens/s of:

- ours, cached: `Generator` (the key/value cache, compiled by Keras:
  jax.jit, tf.function; on torch eager. With --jit-compile: XLA on
  TensorFlow, a step compiled by torch.compile on torch);
- ours, uncached: the same beam search whose step reruns the whole decoder
  over the static-length prefix buffer (what a compiled loop without a cache
  must do), at output lengths 16, 32 and 64, to show how cost grows;
- Hugging Face MarianMTModel.generate (torch, eager, its own KV cache) with
  the same dimensions, beam 4, length penalty 0.6 and the same forced
  length (the `[benchmarks]` extra);
- on TensorFlow, the exported SavedModel's `serving_default` (strings in,
  strings out: tokenization and detokenization included);
- inference engines, over all the sentences: ours cached in float32 and
  quantized to int8 (`Transformer.quantize`), and CTranslate2 in float32
  and int8 on the same weights (`export_ctranslate2`; the `[ctranslate2]`
  extra; `--skip-ctranslate2` leaves it out), each forced to the same
  number of steps (CTranslate2 by min/max_decoding_length), over the
  sentences sorted by length, in rounds that run each engine once
  (`rounds.py`): ratios are medians of the ratios within each round. Each
  CTranslate2 translator runs in a process of its own
  (`ctranslate2_process.py` says why).

Ratios are computed within one run. Times are medians of `--repeats` runs
after one warm-up (which compiles). The uncached search and Marian are
slower by an order of magnitude or more, so they translate the first
`--baseline-sentences` sentences (default 128; all with 0) and are compared
by sentences/s.
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from ctranslate2_process import TranslatorProcess, available_cores  # noqa: E402
from keras import ops  # noqa: E402
from rounds import median_ratio, timed_rounds  # noqa: E402

from keras_transformer import Transformer  # noqa: E402
from keras_transformer.decoding import (  # noqa: E402
    Generator,
    beam_search,
    write_column,
)
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID  # noqa: E402

DIMENSIONS = {
    "num_layers": 3,
    "num_heads": 4,
    "hidden_dim": 256,
    "intermediate_dim": 1024,
    "dropout": 0.0,
}


def _device_name():
    if keras.backend.backend() == "torch":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return keras.distribution.list_devices()[0]


def _median_time(function, repeats):
    function()  # warm-up: compiles
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _batches(source_ids, batch_size):
    for start in range(0, len(source_ids), batch_size):
        rows = source_ids[start : start + batch_size]
        width = -(-max(len(r) for r in rows) // 8) * 8
        batch = np.zeros((len(rows), width), "int32")
        for i, row in enumerate(rows):
            batch[i, : len(row)] = row
        yield batch


class UncachedBeamModel(keras.Model):
    """Beam search whose step reruns the decoder over the whole prefix."""

    def __init__(self, model, num_beams, length, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.num_beams = num_beams
        self.length = length
        self.built = True

    def call(self, encoder_token_ids):
        model, beams = self.model, self.num_beams
        mask = encoder_token_ids != PAD_ID
        encoded = ops.repeat(model.encode(encoder_token_ids, mask), beams, axis=0)
        mask = ops.repeat(mask, beams, axis=0)
        rows = ops.shape(encoded)[0]
        prefix = ops.zeros((rows, self.length), "int32")
        prefix = write_column(prefix, 0, ops.full((rows,), START_ID, "int32"))

        def step(token_ids, prefix, index):
            prefix = write_column(prefix, index, token_ids)
            x = model.decoder_token_embedding(prefix)
            x = model.decoder_position_encoding(x)
            x = model.decoder(x, encoded, encoder_padding_mask=mask)
            logits = model.decoder_token_embedding(x, reverse=True)
            return ops.take(logits, index, axis=1), prefix

        batch = ops.shape(encoder_token_ids)[0]
        token_ids, _ = beam_search(step, prefix, batch, beams, self.length, 0.6)
        return token_ids


def _print_row(row, count, baseline_count):
    cached_rate = count / row["cached"]
    uncached_rate = baseline_count / row["uncached"]
    marian = row.get("marian")
    marian_rate = baseline_count / marian if marian else None
    print(
        f"| {row['length']} | {cached_rate:.1f} | "
        f"{cached_rate * row['length']:.0f} | {uncached_rate:.1f} | "
        f"{cached_rate / uncached_rate:.2f}x | "
        + (
            f"{marian_rate:.1f} | {cached_rate / marian_rate:.2f}x |"
            if marian
            else "- | - |"
        ),
        flush=True,
    )


def _forced_length_generator(model, length, jit_compile, first_cache_length):
    # Outputs end at `length`: the limit is offset + ratio * source = length.
    return Generator(
        model,
        num_beams=4,
        max_length_ratio=0.0,
        max_length_offset=length,
        max_output_length=length,
        first_cache_length=first_cache_length,
        jit_compile=jit_compile,
    )


def _suppress_end(model):
    """Makes the end token (almost) never chosen, so every hypothesis runs
    to the forced length, as Marian's min_new_tokens does."""
    embeddings = model.decoder_token_embedding.embeddings
    values = ops.convert_to_numpy(embeddings).copy()
    values[END_ID] = 0.0
    embeddings.assign(values)


def _marian(vocabulary_size, batches, length, repeats):
    import torch
    from transformers import MarianConfig, MarianMTModel

    config = MarianConfig(
        vocab_size=vocabulary_size,
        d_model=DIMENSIONS["hidden_dim"],
        encoder_layers=DIMENSIONS["num_layers"],
        decoder_layers=DIMENSIONS["num_layers"],
        encoder_attention_heads=DIMENSIONS["num_heads"],
        decoder_attention_heads=DIMENSIONS["num_heads"],
        encoder_ffn_dim=DIMENSIONS["intermediate_dim"],
        decoder_ffn_dim=DIMENSIONS["intermediate_dim"],
        max_position_embeddings=512,
        pad_token_id=PAD_ID,
        eos_token_id=END_ID,
        decoder_start_token_id=START_ID,
        dropout=0.0,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    marian = MarianMTModel(config).eval().to(device)
    tensors = [torch.from_numpy(b).long().to(device) for b in batches]

    def run():
        with torch.no_grad():
            for ids in tensors:
                marian.generate(
                    input_ids=ids,
                    attention_mask=(ids != PAD_ID).long(),
                    num_beams=4,
                    length_penalty=0.6,
                    min_new_tokens=length,
                    max_new_tokens=length,
                )
        if device == "cuda":
            torch.cuda.synchronize()

    return _median_time(run, repeats)


def _quantized_copy(model):
    copy = Transformer.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    copy.quantize("int8")
    return copy


def _ctranslate2_models(model, directory, stack, threads=None):
    """The model as CTranslate2 models in float32 and int8 (weights and
    compute), each in a process of its own (`ctranslate2_process`) that
    `stack` (a `contextlib.ExitStack`) ends, with the piece of each id;
    `threads`: their intra_threads (None: the available cores)."""
    from keras_transformer.ctranslate2_export import transformer_spec

    pieces = ["<pad>", "<unk>", "<s>", "</s>"]
    pieces += [f"p{i}" for i in range(len(pieces), model.vocabulary_size)]
    translators = {}
    for weights in ("float32", "int8"):
        spec = transformer_spec(model, pieces, pieces, positions=512)
        spec.validate()
        spec.optimize(quantization=weights)
        path = os.path.join(directory, weights)
        os.makedirs(path)
        spec.save(path)
        translators[weights] = stack.enter_context(
            TranslatorProcess(path, weights, threads)
        )
    return translators, pieces


def _engine_rows(model, source_ids, lengths, jit_compile, args):
    """Ours (float32, int8) and CTranslate2 (float32, int8) over the same
    sentences, sorted by length into batches of `--batch-size`: as
    CTranslate2's `translate_batch` forms its batches when `max_batch_size`
    splits them, and as our `Translator` does; ours compiled as
    `jit_compile` says."""
    count = len(source_ids)
    batches = list(_batches(sorted(source_ids, key=len), args.batch_size))
    quantized = _quantized_copy(model)
    print(
        f"\nEngines: {count} sentences sorted by length, batch {args.batch_size}, "
        f"beam 4, length penalty 0.6, ours with jit_compile={jit_compile!r}, "
        f"CTranslate2 intra_threads {args.ctranslate2_threads or available_cores()}; "
        f"sentences/s (median of {args.repeats} rounds that run each system "
        "once) and, for the ratios, the median over rounds of the ratio within each"
    )
    print(
        "\n| output tokens | ours float32 | ours int8 | CTranslate2 float32 "
        "| CTranslate2 int8 | ours / CT2, float32 | ours / CT2, int8 |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|", flush=True)
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        translators, pieces = _ctranslate2_models(
            model, directory, stack, args.ctranslate2_threads
        )
        tokens = [[pieces[i] for i in row if i != PAD_ID] for b in batches for row in b]
        for length in lengths:
            systems = {}
            for name, weights in (("float32", model), ("int8", quantized)):
                generator = _forced_length_generator(weights, length, jit_compile, 16)
                systems[f"ours {name}"] = lambda g=generator: [
                    g.predict_on_batch(b) for b in batches
                ]
                systems[f"CTranslate2 {name}"] = (
                    lambda t=translators[name], length=length: t.translate_batch(
                        tokens,
                        max_batch_size=args.batch_size,
                        beam_size=4,
                        length_penalty=0.6,
                        min_decoding_length=length,
                        max_decoding_length=length,
                    )
                )
            _, times, _ = timed_rounds(systems, args.repeats)
            rates = {name: count / statistics.median(t) for name, t in times.items()}
            speedup = {
                weights: median_ratio(
                    times[f"CTranslate2 {weights}"], times[f"ours {weights}"]
                )
                for weights in ("float32", "int8")
            }
            print(
                f"| {length} | {rates['ours float32']:.1f} | {rates['ours int8']:.1f} "
                f"| {rates['CTranslate2 float32']:.1f} "
                f"| {rates['CTranslate2 int8']:.1f} "
                f"| {speedup['float32']:.2f}x | {speedup['int8']:.2f}x |",
                flush=True,
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="data/multi30k")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--baseline-sentences", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--lengths", default="16,32,64")
    parser.add_argument(
        "--first-cache-length",
        type=int,
        default=16,
        help="the cached search's first cache stage; 0: one cache of full length",
    )
    parser.add_argument(
        "--source-ids",
        help="tokenized sources (an .npz of `values` and `lengths`, as "
        "benchmarks/train_from_arrays.py prepare writes) instead of training a "
        "tokenizer on --data-dir: runs without TensorFlow",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="our searches with jit_compile=True: XLA on TensorFlow (where "
        "Keras' 'auto' leaves a CPU without it), a step compiled by "
        "torch.compile on PyTorch; JAX compiles with XLA either way",
    )
    parser.add_argument(
        "--torch-compile",
        action="store_true",
        help="--jit-compile on PyTorch only (as in earlier results' commands)",
    )
    parser.add_argument("--skip-marian", action="store_true")
    parser.add_argument(
        "--ctranslate2-threads",
        type=int,
        help="CTranslate2's intra_threads (default: the available cores)",
    )
    parser.add_argument("--skip-ctranslate2", action="store_true")
    parser.add_argument(
        "--engines-only",
        action="store_true",
        help="only the engines table (ours and CTranslate2, float32 and int8)",
    )
    args = parser.parse_args()
    if args.repeats < 1 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be at least 1")  # exits 2
    if args.ctranslate2_threads is not None and args.ctranslate2_threads < 1:
        parser.error(
            "--ctranslate2-threads must be at least 1; received "
            f"{args.ctranslate2_threads}"
        )
    backend = keras.backend.backend()
    lengths = [int(x) for x in args.lengths.split(",")]

    tokenizer, sources = None, None
    if args.source_ids:
        try:
            with np.load(args.source_ids) as data:
                ends = np.cumsum(data["lengths"])
                source_ids = np.split(data["values"], ends[:-1])[: args.sentences]
        except (OSError, ValueError, KeyError) as error:
            parser.error(f"--source-ids {args.source_ids}: {error}")  # exits 2
        vocabulary_size = args.vocabulary_size
    else:
        from keras_transformer.data.lines import CorpusError
        from keras_transformer.data.readers import find_splits
        from keras_transformer.data.tokenizer import SubwordTokenizer

        try:
            splits = find_splits(args.data_dir, "en", "de")
        except CorpusError as error:
            parser.error(str(error))  # exits 2
        train = list(splits["train"].read())
        test = list(splits["test"].read())[: args.sentences]
        tokenizer = SubwordTokenizer.train(
            (s for pair in train for s in pair), args.vocabulary_size
        )
        sources = [pair[0] for pair in test]
        source_ids = tokenizer.tokenize(sources)
        vocabulary_size = tokenizer.vocabulary_size
    batches = list(_batches(source_ids, args.batch_size))
    baseline_count = min(args.baseline_sentences or len(source_ids), len(source_ids))
    baseline_batches = list(_batches(source_ids[:baseline_count], args.batch_size))
    keras.utils.set_random_seed(0)
    model = Transformer(vocabulary_size=vocabulary_size, **DIMENSIONS)
    _suppress_end(model)
    count = len(source_ids)
    print(
        f"backend {backend} on {_device_name()}; "
        f"{count} Multi30k test2016 sentences ({baseline_count} "
        f"for the uncached search and Marian), batch {args.batch_size}, beam 4, "
        f"{model.count_params():,} parameters"
    )
    jit = "auto"
    if args.jit_compile or (backend == "torch" and args.torch_compile):
        jit = True
    if not args.skip_ctranslate2:
        try:
            import ctranslate2  # noqa: F401
        except ImportError:
            print(
                "\nCTranslate2 is not installed (the [benchmarks] extra): no engines."
            )
        else:
            _engine_rows(model, source_ids, lengths, jit, args)
    if args.engines_only:
        return
    rows, notes = [], []
    print(
        "\n| output tokens | ours cached sent/s | tok/s | uncached sent/s "
        "| cached / uncached | Marian sent/s | ours / Marian |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|", flush=True)
    for length in lengths:
        cached = _forced_length_generator(
            model, length, jit, args.first_cache_length or None
        )
        uncached = UncachedBeamModel(model, 4, length)
        row = {"length": length}
        started = time.perf_counter()
        cached.predict_on_batch(batches[0])
        first_call_s = time.perf_counter() - started
        row["cached"] = _median_time(
            lambda g=cached: [g.predict_on_batch(b) for b in batches], args.repeats
        )
        row["uncached"] = _median_time(
            lambda u=uncached: [u.predict_on_batch(b) for b in baseline_batches],
            args.repeats,
        )
        if not args.skip_marian:
            row["marian"] = _marian(
                vocabulary_size, baseline_batches, length, args.repeats
            )
        rows.append(row)
        _print_row(row, count, baseline_count)
        notes.append(f"{length} tokens: first call (compiling) {first_call_s:.1f} s")
    first, last = rows[0], rows[-1]
    growth = last["length"] / first["length"]
    growths = {
        "cached": last["cached"] / first["cached"],
        "uncached": last["uncached"] / first["uncached"],
    }
    if "marian" in first:
        growths["Marian"] = last["marian"] / first["marian"]
    print(
        f"\ncost growth from {first['length']} to {last['length']} tokens "
        f"(x{growth:.0f} longer): "
        + ", ".join(f"{name} x{value:.2f}" for name, value in growths.items())
    )
    for note in notes:
        print(f"- {note}")
    if backend == "tensorflow" and tokenizer is not None:
        _saved_model_rate(model, tokenizer, sources, args)


def _saved_model_rate(model, tokenizer, sources, args):
    import tensorflow as tf

    from keras_transformer.export import export_saved_model
    from keras_transformer.translator import Translator

    with tempfile.TemporaryDirectory() as directory:
        translator = Translator(model, tokenizer, num_beams=4, max_length_offset=50)
        translator.save(os.path.join(directory, "translator"))
        path = export_saved_model(
            os.path.join(directory, "translator"), os.path.join(directory, "sm")
        )
        serve = tf.saved_model.load(path).signatures["serving_default"]
        batches = [
            tf.constant(sources[i : i + args.batch_size])
            for i in range(0, len(sources), args.batch_size)
        ]
        seconds = _median_time(lambda: [serve(inputs=b) for b in batches], 1)
        python = _median_time(lambda: translator.translate(sources), 1)
    print(
        f"SavedModel serving_default (strings in and out, outputs up to input "
        f"+ 50 tokens): {len(sources) / seconds:.1f} sentences/s; the Python "
        f"Translator: {len(sources) / python:.1f} sentences/s"
    )


if __name__ == "__main__":
    main()
