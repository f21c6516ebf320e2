"""The `keras-transformer` command line, a thin layer over the library.

The backend comes from KERAS_BACKEND (tensorflow, jax or torch); nothing
else changes between backends.
"""

import argparse
import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Translator.quantize's modes (keras_transformer.translator imports Keras,
# which the parser does not need).
QUANTIZATION_MODES = ("int8",)


def _positive_int(text):
    """argparse type: an int of at least 1 (0 is not "not given")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, found {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def _read_lines(stream, where):
    """The lines of a binary stream, decoded as UTF-8; a line that is not
    UTF-8 is a `ValueError` naming where and which line."""
    lines = []
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.end]
            raise ValueError(
                f"{where}, line {number}: invalid UTF-8 (bytes {bad!r} at column "
                f"{error.start + 1}); translate reads UTF-8 text: convert it, "
                "e.g. `iconv -f ISO-8859-1 -t UTF-8` for Latin-1"
            ) from None
        lines.append(text.removesuffix("\n").removesuffix("\r"))
    return lines


@contextlib.contextmanager
def _progress_on_stderr():
    """Keras' progress bars and logs go to standard error, so that standard
    output holds the results alone (`evaluate --json | python -m json.tool`)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _package_version():
    from keras_transformer import __version__

    return __version__


def _fields_epilog():
    from keras_transformer.config import describe_fields

    lines = ["configuration keys for --set KEY=VALUE (default in brackets):"]
    for field in describe_fields():
        if "." in field.key:
            lines.append(
                f"  {field.key} ({field.type}) [{field.default}]: {field.help}"
            )
    return "\n".join(lines)


def _train(args):
    from keras_transformer.config import apply_overrides
    from keras_transformer.recipes import load_recipe
    from keras_transformer.training.trainer import train

    config = load_recipe(args.recipe)
    overrides = list(args.set)
    if args.data_dir:
        overrides.append(f"data.corpus={args.data_dir}")
    if args.devices:
        overrides.append(f"train.devices={args.devices}")
    config = apply_overrides(config, overrides)
    workdir = args.workdir or os.path.join("runs", config.name)
    print(f"Run {config.name!r} in {workdir} (the same command resumes it).")
    results = train(config, workdir)
    if "process_index" not in results:  # the chief saved it
        print(f"Translator saved to {os.path.join(workdir, 'translator')}.")
    return 0


def _recipes(args):
    from keras_transformer.recipes import describe_recipes

    described = describe_recipes()
    width = max(len(name) for name, _ in described)
    for name, summary in described:
        print(f"{name:<{width}}  {summary}")
    print(
        "\nTrain one with `keras-transformer train NAME` (add --data-dir DIR for "
        "a corpus on disk); `train PATH.py` trains a recipe file of your own.",
        file=sys.stderr,
    )
    return 0


def _load_translator(args):
    from keras_transformer.translator import Translator

    overrides = {}
    if getattr(args, "num_beams", None) is not None:
        overrides["num_beams"] = args.num_beams
    if getattr(args, "batch_size", None) is not None:
        overrides["batch_size"] = args.batch_size
    return Translator.load(
        args.translator,
        weights=getattr(args, "weights", None),
        quantize=getattr(args, "quantize", None),
        jit_compile=True if getattr(args, "jit_compile", False) else "auto",
        **overrides,
    )


def _run_config(translator_dir):
    """The config.json of the run that wrote `translator_dir`, if any."""
    from keras_transformer.config import load_config

    path = os.path.join(os.path.dirname(os.path.abspath(translator_dir)), "config.json")
    return load_config(path) if os.path.isfile(path) else None


def _evaluate(args):
    from keras_transformer.evaluation import evaluate_translator
    from keras_transformer.training.trainer import load_corpus
    from keras_transformer.translator import check_saved_translator

    check_saved_translator(args.translator)  # a wrong path is named first
    if args.source_file or args.reference_file:
        if not (args.source_file and args.reference_file):
            raise ValueError("--source-file and --reference-file go together.")
        from keras_transformer.data.readers import read_parallel_files

        pairs = list(read_parallel_files(args.source_file, args.reference_file))
    else:
        config = _run_config(args.translator)
        if config is None and not args.corpus:
            raise ValueError(
                f"No corpus to evaluate on: {args.translator} has no run "
                "config.json beside it. Pass --corpus DIR (or builtin), or "
                "--source-file and --reference-file."
            )
        import dataclasses

        from keras_transformer.config import DataConfig

        data = config.data if config else DataConfig()
        if args.corpus:
            data = dataclasses.replace(data, corpus=args.corpus)
        pairs = load_corpus(data).get(args.split) or []
        if not pairs:
            raise ValueError(f"The corpus {data.corpus!r} has no {args.split} split.")
    with _progress_on_stderr():
        translator = _load_translator(args)
        scores, translations = evaluate_translator(
            translator, pairs, verbose=sys.stderr.isatty()
        )
    if not args.json:
        print(scores.describe())
    if args.output:
        from keras_transformer.atomic import atomic_write_bytes

        text = "".join(f"{line}\n" for line in translations)
        atomic_write_bytes(args.output, text.encode("utf-8"))
    if args.json:
        print(json.dumps(scores.__dict__, indent=2))
    else:
        print(f"Scored {len(pairs)} sentences.", file=sys.stderr)
    return 0


def _translate(args):
    from keras_transformer.translator import check_saved_translator

    check_saved_translator(args.translator)  # before waiting on standard input
    if args.texts:
        texts = args.texts
    elif args.input and args.input != "-":
        try:
            with open(args.input, "rb") as file:
                texts = _read_lines(file, args.input)
        except IsADirectoryError:
            raise ValueError(
                f"--input {args.input} is a directory, not a file"
            ) from None
    else:
        if sys.stdin.isatty():
            print(
                "Reading sentences from standard input (Ctrl-D ends).", file=sys.stderr
            )
        texts = _read_lines(sys.stdin.buffer, "standard input")
    with _progress_on_stderr():
        translations = _load_translator(args).translate(texts)
    for translation in translations:
        print(translation)
    return 0


def _export(args):
    overrides = {} if args.num_beams is None else {"num_beams": args.num_beams}
    if args.format == "ctranslate2":
        return _export_ctranslate2(args, overrides)
    for option in ("quantization", "force"):
        if getattr(args, option):
            raise ValueError(f"--{option} applies to --format ctranslate2 only.")
    from keras_transformer.export import export_saved_model

    path = export_saved_model(
        args.translator,
        args.output or "saved_models",
        args.name,
        args.version,
        **overrides,
    )
    print(f"Exported a SavedModel to {path}.")
    print(
        "Load it with plain TensorFlow (import tensorflow_text first: it "
        "registers the SentencePiece ops), or serve it with a TensorFlow "
        "Serving model server that has tensorflow-text's ops linked in:\n"
        "  import tensorflow as tf, tensorflow_text\n"
        f"  served = tf.saved_model.load({path!r})\n"
        "  served.signatures['serving_default'](tf.constant(['Hello.']))"
    )
    return 0


def _export_ctranslate2(args, overrides):
    from keras_transformer.translator import check_saved_translator

    if args.version is not None:
        raise ValueError(
            "--version applies to SavedModels; a CTranslate2 model is one "
            "directory, <output>/<name>."
        )
    try:
        from keras_transformer.ctranslate2_export import (
            check_quantization,
            export_ctranslate2,
        )
    except ImportError as error:
        raise ValueError(str(error)) from None
    check_quantization(args.quantization)
    check_saved_translator(args.translator)  # before loading anything
    from keras_transformer.export import default_name

    path = os.path.join(
        args.output or "ctranslate2_models", args.name or default_name(args.translator)
    )
    with _progress_on_stderr():
        options = export_ctranslate2(
            args.translator, path, args.quantization, args.force, **overrides
        )
    print(f"Exported a CTranslate2 model to {path}.")
    tokenizer = os.path.join(path, "source_tokenizer.model")
    options_file = os.path.join(path, "translation_options.json")
    print(
        "Translate with it (pip install ctranslate2 sentencepiece):\n"
        "  import ctranslate2, json, sentencepiece\n"
        f"  translator = ctranslate2.Translator({path!r})\n"
        f"  pieces = sentencepiece.SentencePieceProcessor({tokenizer!r})\n"
        f"  options = json.load(open({options_file!r}))\n"
        "  results = translator.translate_batch(\n"
        "      [pieces.encode('Hello.', out_type=str)], **options['translate_batch'])"
    )
    if not options["same_translations"]:
        print(
            "CTranslate2's search differs from this translator's: "
            + "; ".join(options["differences"])
            + ".",
            file=sys.stderr,
        )
    return 0


def _demo(args):
    from keras_transformer.demo import run_demo

    run_demo(epochs=args.epochs, seed=args.seed)
    return 0


def _attention(args):
    from keras_transformer.diagnostics import (
        plot_alignment,
        plot_head_grid,
        translation_attention,
    )

    translator = _load_translator(args)
    attention = translation_attention(translator, args.sentence, args.reference)
    print(f"{attention.source}\n→ {attention.translation}")
    if args.grid:
        labels = {
            "encoder_self": (attention.source_pieces, attention.source_pieces),
            "decoder_self": (attention.target_pieces, attention.target_pieces),
            "decoder_cross": (attention.target_pieces, attention.source_pieces),
        }[args.grid]
        path = plot_head_grid(attention.maps, args.output, args.grid, 0, *labels)
    else:
        path = plot_alignment(
            attention, args.output, layer=args.layer, average_layers=args.average
        )
    print(f"Wrote {path}.")
    return 0


def _plot_history(args):
    from keras_transformer.diagnostics import plot_history

    print(f"Wrote {plot_history(args.workdir, args.output)}.")
    return 0


def _add_translator_arguments(parser):
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="load these weights over the translator's (e.g. the run's "
        "checkpoints/best.weights.h5)",
    )
    parser.add_argument(
        "--num-beams", type=_positive_int, help="beam width (1: greedy)"
    )
    parser.add_argument("--batch-size", type=_positive_int, help="sentences per search")
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATION_MODES,
        help="quantize the weights for inference (Keras' int8: about the same "
        "BLEU; faster on JAX, and on TensorFlow with --jit-compile)",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the search with XLA on TensorFlow, where Keras leaves a "
        "CPU without it (on a 2-core CPU: 1.5x as fast in float32, 4.6x in "
        "int8, about 2 s more compilation per batch shape), or its step with "
        "torch.compile on PyTorch (about a minute); JAX compiles with XLA "
        "either way",
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-transformer",
        description="The Transformer of 'Attention Is All You Need' in Keras 3. "
        "Pick the backend with KERAS_BACKEND=tensorflow|jax|torch.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_package_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train a recipe (resumes an interrupted run in the same workdir)",
        epilog=_fields_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "recipe",
        help="a recipe name (`keras-transformer recipes` lists them) or the "
        "path of a .py file that defines get_config()",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration value (repeatable); keys below",
    )
    train.add_argument("--data-dir", help="corpus directory (sets data.corpus)")
    train.add_argument(
        "--devices",
        metavar="N",
        help="devices to train on, or 'auto' (sets train.devices); with "
        "PyTorch, launch under torchrun --nproc_per_node N",
    )
    train.add_argument("--workdir", help="run directory (default: runs/<name>)")
    train.set_defaults(handler=_train)

    recipes = commands.add_parser(
        "recipes", help="list the recipes that ship with the package"
    )
    recipes.set_defaults(handler=_recipes)

    evaluate = commands.add_parser(
        "evaluate", help="sacreBLEU and chrF of a trained translator"
    )
    evaluate.add_argument("translator", help="a translator directory")
    evaluate.add_argument("--corpus", help="'builtin' or a corpus directory")
    evaluate.add_argument("--split", default="test", help="split to score")
    evaluate.add_argument("--source-file", help="sources, one per line")
    evaluate.add_argument("--reference-file", help="references, one per line")
    evaluate.add_argument("--output", help="write the translations here")
    evaluate.add_argument("--json", action="store_true", help="print scores as JSON")
    _add_translator_arguments(evaluate)
    evaluate.set_defaults(handler=_evaluate)

    translate = commands.add_parser(
        "translate", help="translate arguments, a file, or standard input"
    )
    translate.add_argument("translator", help="a translator directory")
    translate.add_argument("texts", nargs="*", help="sentences to translate")
    translate.add_argument("--input", help="a file of sentences ('-': stdin)")
    _add_translator_arguments(translate)
    translate.set_defaults(handler=_translate)

    export = commands.add_parser(
        "export",
        help="write a SavedModel (strings in, strings out) for serving, or a "
        "CTranslate2 model",
    )
    export.add_argument("translator", help="a translator directory")
    export.add_argument(
        "--format",
        choices=("saved_model", "ctranslate2"),
        default="saved_model",
        help="saved_model: <output>/<name>/<version>/ for TensorFlow Serving; "
        "ctranslate2: <output>/<name>/ for CTranslate2",
    )
    export.add_argument(
        "--output",
        help="export base (default: saved_models, or ctranslate2_models)",
    )
    export.add_argument("--name", help="model name (default: the run's name)")
    export.add_argument(
        "--version",
        type=_positive_int,
        help="SavedModel version, 1 or more (default: next)",
    )
    export.add_argument(
        "--quantization",
        metavar="TYPE",
        help="CTranslate2 weight type: int8, int8_float32, int16, float16, "
        "bfloat16, ... (default: float32)",
    )
    export.add_argument(
        "--force", action="store_true", help="replace an existing CTranslate2 model"
    )
    export.add_argument(
        "--num-beams", type=_positive_int, help="beam width (1: greedy)"
    )
    export.set_defaults(handler=_export)

    attention = commands.add_parser(
        "attention",
        help="translate a sentence and plot its cross-attention (alignment)",
    )
    attention.add_argument("sentence", help="the source sentence")
    attention.add_argument(
        "--model",
        dest="translator",
        required=True,
        metavar="TRANSLATOR",
        help="a translator directory (a run's <workdir>/translator)",
    )
    attention.add_argument(
        "-o", "--output", default="alignment.png", help="image file (.png/.pdf/.svg)"
    )
    attention.add_argument(
        "--reference", help="align this translation instead of the model's own"
    )
    attention.add_argument(
        "--layer", type=int, default=-1, help="decoder layer to plot (default: last)"
    )
    attention.add_argument(
        "--average", action="store_true", help="one panel per layer, heads averaged"
    )
    attention.add_argument(
        "--grid",
        choices=("encoder_self", "decoder_self", "decoder_cross"),
        help="instead: every layer and head of this attention kind",
    )
    attention.add_argument(
        "--num-beams", type=_positive_int, help="beam width (1: greedy)"
    )
    attention.set_defaults(handler=_attention)

    plot_history = commands.add_parser(
        "plot-history", help="plot a run's training curves (loss, BLEU, rate...)"
    )
    plot_history.add_argument("workdir", help="a run directory (or its history.csv)")
    plot_history.add_argument(
        "-o", "--output", default="curves.png", help="image file (.png/.pdf/.svg)"
    )
    plot_history.set_defaults(handler=_plot_history)

    demo = commands.add_parser(
        "demo", help="train a small model to reverse digit strings (about a minute)"
    )
    demo.add_argument("--epochs", type=int, default=8, help="training epochs")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras and args.command == "translate" and not args.input:
        # Sentences after an option (`translate DIR --num-beams 2 "Hello."`):
        # argparse leaves a positional list that follows an option unparsed.
        unknown = [extra for extra in extras if extra.startswith("-")]
        if not unknown:
            args.texts, extras = args.texts + extras, []
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        # Bad input (a configuration key, a corpus file, a path): the message
        # says what and where; a traceback would bury it.
        parser.exit(2, f"keras-transformer {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
