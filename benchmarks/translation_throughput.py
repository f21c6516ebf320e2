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
  `export_ctranslate2` (`--skip-ctranslate2` leaves them out).

Each row reports sentences/s (the whole test set, `--batch-size` sentences
a batch; tokenization included for ours, excluded for CTranslate2, which
reads pieces), the first pass's seconds (ours: compiling every shape), BLEU,
and how many translations equal ours in float32. Times are the median of
`--repeats` passes after the first.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import sacrebleu  # noqa: E402

from keras_transformer import Translator  # noqa: E402


def _passes(run, repeats):
    """(seconds of the first pass, median seconds of the next `repeats`,
    outputs of the last)."""
    start = time.perf_counter()
    outputs = run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = run()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), outputs


def _ours(args, sources, quantize=None, drop_finished=True):
    translator = Translator.load(
        args.translator,
        quantize=quantize,
        drop_finished=drop_finished,
        length_normalization="power",
        early_stopping=True,
        batch_size=args.batch_size,
    )
    return _passes(lambda: translator.translate(sources), args.repeats)


def _ctranslate2(args, sources, directory, compute_type):
    import ctranslate2

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
    path = os.path.join(directory, compute_type)
    quantization = None if compute_type == "float32" else compute_type
    options = export_ctranslate2(translator, path, quantization=quantization)
    engine = ctranslate2.Translator(
        path, device="cpu", compute_type=compute_type, intra_threads=os.cpu_count()
    )

    def run():
        results = engine.translate_batch(
            pieces, max_batch_size=args.batch_size, **options["translate_batch"]
        )
        return [
            translator.output_tokenizer.detokenize(
                [target_ids[piece] for piece in result.hypotheses[0]]
            )
            for result in results
        ]

    return _passes(run, args.repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("translator", help="a translator directory")
    parser.add_argument("--source-file", required=True)
    parser.add_argument("--reference-file", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-ctranslate2", action="store_true")
    args = parser.parse_args()
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

    rows = {
        "ours, whole batches, float32": _ours(args, sources, drop_finished=False),
        "ours, float32": _ours(args, sources),
        "ours, int8": _ours(args, sources, quantize="int8"),
    }
    if not args.skip_ctranslate2:
        with tempfile.TemporaryDirectory() as directory:
            for compute_type in ("float32", "int8"):
                rows[f"CTranslate2 {compute_type}"] = _ctranslate2(
                    args, sources, directory, compute_type
                )

    print(
        f"backend {keras.backend.backend()}, {len(sources)} sentences, "
        f"batch {args.batch_size}, {os.cpu_count()} CPU cores"
    )
    reference_outputs = rows["ours, float32"][2]
    print("| system | sentences/s | first pass (s) | BLEU | same as ours float32 |")
    print("|---|--:|--:|--:|--:|")
    rates = {}
    for name, (first, seconds, outputs) in rows.items():
        rates[name] = len(sources) / seconds
        bleu = sacrebleu.corpus_bleu(outputs, [references]).score
        same = sum(a == b for a, b in zip(outputs, reference_outputs, strict=True))
        print(f"| {name} | {rates[name]:.1f} | {first:.1f} | {bleu:.2f} | {same} |")
    whole = rates["ours, whole batches, float32"]
    print(f"dropping finished sentences: {rates['ours, float32'] / whole:.2f}x")
    for precision in ("float32", "int8"):
        engine = rates.get(f"CTranslate2 {precision}")
        if engine:
            ours = rates[f"ours, {precision}"]
            print(f"ours / CTranslate2, {precision}: {ours / engine:.2f}x")


if __name__ == "__main__":
    main()
