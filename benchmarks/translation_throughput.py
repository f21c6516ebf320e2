"""Translation throughput of a trained translator on a real test set.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/translation_throughput.py \
        runs/multi30k_cpu/translator \
        --source-file data/multi30k/test_2016_flickr.en \
        --reference-file data/multi30k/test_2016_flickr.de

Unlike `decoding_throughput.py` (random weights, every output forced to one
length), outputs here end where the model ends them, so the batch's
sentences finish at different steps: what dropping finished sentences from
the batch (`Generator(drop_finished=...)`) and sorting by length are for.
Every system runs the same search: the translator's beam and alpha with
CTranslate2's normalization (`length_normalization="power"`,
`early_stopping=True`), so CTranslate2 finds the same translations. Rows:

- ours, each batch searched whole (`drop_finished=False`), float32;
- ours, dropping finished sentences (`drop_finished=True`), float32 and
  int8;
- CTranslate2, float32 and int8, on the translator exported by
  `export_ctranslate2`, each in a process of its own
  (`ctranslate2_process.py`; `--skip-ctranslate2` leaves them out).

Each row reports sentences/s (the whole test set, `--batch-size` sentences
a batch; tokenization included for ours, excluded for CTranslate2, which
reads pieces), the first pass's seconds (ours: compiling every shape), BLEU,
and how many translations equal ours in float32. After every system's
first pass come `--repeats` rounds that run each system once (`rounds.py`):
a row's time is the median of its rounds, and a ratio of ours to
CTranslate2 is the median of the ratios within each round.

Ours searches with Keras' `jit_compile="auto"`, which leaves TensorFlow on
a CPU without XLA; `--jit-compile` searches with `jit_compile=True` (XLA
on TensorFlow, a step compiled by `torch.compile` on PyTorch; JAX
compiles with XLA either way). CTranslate2 gets as many threads as this
process has CPU cores available, or each count of `--ctranslate2-threads`
(a row per count: on some CPUs one thread is faster than two). Its
environment variables reach it (`CT2_USE_MKL=0` picks oneDNN over Intel
MKL on an Intel CPU).
"""

import argparse
import contextlib
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
import sacrebleu  # noqa: E402
from ctranslate2_process import TranslatorProcess, available_cores  # noqa: E402
from rounds import median_ratio, timed_rounds  # noqa: E402

from keras_transformer import Translator  # noqa: E402


def _ours(args, sources, quantize=None, drop_finished=True):
    """A pass of ours over `sources`: a function of no arguments."""
    translator = Translator.load(
        args.translator,
        quantize=quantize,
        drop_finished=drop_finished,
        jit_compile=True if args.jit_compile else "auto",
        length_normalization="power",
        early_stopping=True,
        batch_size=args.batch_size,
    )
    return lambda: translator.translate(sources)


def _ctranslate2(args, sources, directory, compute_type, threads, stack):
    """A pass of CTranslate2 over `sources`, on the translator exported
    to `directory`, with `threads` (None: the available cores), in a
    process of its own (`ctranslate2_process`) that `stack` (a
    `contextlib.ExitStack`) ends: a function of no arguments."""

    from keras_transformer import export_ctranslate2

    translator = Translator.load(
        args.translator, length_normalization="power", early_stopping=True
    )
    source_pieces = translator.source_tokenizer.pieces()
    target_ids = {
        piece: index for index, piece in enumerate(translator.output_tokenizer.pieces())
    }
    pieces = [
        [source_pieces[i] for i in row] for row in translator.encode_sources(sources)
    ]
    path = os.path.join(directory, f"{compute_type}-{threads}")
    quantization = None if compute_type == "float32" else compute_type
    options = export_ctranslate2(translator, path, quantization=quantization)
    engine = stack.enter_context(TranslatorProcess(path, compute_type, threads))

    def run():
        hypotheses = engine.translate_batch(
            pieces, max_batch_size=args.batch_size, **options["translate_batch"]
        )
        return [
            translator.output_tokenizer.detokenize(
                [target_ids[piece] for piece in hypothesis]
            )
            for hypothesis in hypotheses
        ]

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("translator", help="a translator directory")
    parser.add_argument("--source-file", required=True)
    parser.add_argument("--reference-file", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="search with jit_compile=True, not Keras' 'auto' (which leaves "
        "TensorFlow on a CPU without XLA)",
    )
    parser.add_argument(
        "--ctranslate2-threads",
        help="CTranslate2's intra_threads: a count, or counts separated by "
        "commas for a row each (default: the available cores)",
    )
    parser.add_argument("--skip-ctranslate2", action="store_true")
    args = parser.parse_args()
    if args.repeats < 1 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be at least 1")  # exits 2
    threads = [None]
    if args.ctranslate2_threads is not None:
        try:
            threads = [int(count) for count in args.ctranslate2_threads.split(",")]
        except ValueError:
            threads = [0]
        if min(threads) < 1:
            parser.error(
                "--ctranslate2-threads takes counts of at least 1 separated by "
                f"commas; received {args.ctranslate2_threads!r}"
            )
    try:
        Translator.load(args.translator)
        with open(args.source_file, encoding="utf-8") as file:
            sources = [line.rstrip("\n") for line in file]
        with open(args.reference_file, encoding="utf-8") as file:
            references = [line.rstrip("\n") for line in file]
    except (OSError, ValueError) as error:  # missing, unreadable, not UTF-8
        parser.error(str(error))  # exits 2
    if len(references) != len(sources):
        parser.error(
            f"line counts differ: --source-file {len(sources)}, --reference-file "
            f"{len(references)}; expected one reference per source line"
        )

    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        systems = {
            "ours, whole batches, float32": _ours(args, sources, drop_finished=False),
            "ours, float32": _ours(args, sources),
            "ours, int8": _ours(args, sources, quantize="int8"),
        }
        if not args.skip_ctranslate2:
            for compute_type in ("float32", "int8"):
                for count in threads:
                    name = f"CTranslate2 {compute_type}"
                    if len(threads) > 1:
                        name += f", {count} thread{'s' * (count > 1)}"
                    systems[name] = _ctranslate2(
                        args, sources, directory, compute_type, count, stack
                    )
        first, times, outputs = timed_rounds(systems, args.repeats)

    print(
        f"backend {keras.backend.backend()}, {len(sources)} sentences, "
        f"batch {args.batch_size}, {available_cores()} CPU cores available, "
        f"ours with jit_compile={True if args.jit_compile else 'auto'!r}, "
        f"CTranslate2 intra_threads {args.ctranslate2_threads or available_cores()}"
    )
    reference_outputs = outputs["ours, float32"]
    print("| system | sentences/s | first pass (s) | BLEU | same as ours float32 |")
    print("|---|--:|--:|--:|--:|")
    for name in systems:
        rate = len(sources) / statistics.median(times[name])
        bleu = sacrebleu.corpus_bleu(outputs[name], [references]).score
        same = sum(
            a == b for a, b in zip(outputs[name], reference_outputs, strict=True)
        )
        print(f"| {name} | {rate:.1f} | {first[name]:.1f} | {bleu:.2f} | {same} |")
    dropping = median_ratio(
        times["ours, whole batches, float32"], times["ours, float32"]
    )
    print(f"dropping finished sentences: {dropping:.2f}x")
    for name in systems:
        if name.startswith("CTranslate2 "):
            precision = name.split()[1].rstrip(",")
            ratio = median_ratio(times[name], times[f"ours, {precision}"])
            print(f"ours / {name}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
