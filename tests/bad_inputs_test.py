"""Bad inputs, as a user makes them: each gets a clear error (what, where,
what to do), or a documented, counted behaviour, never a traceback or a
silent wrong answer; the CLI exits 2.

Grouped by where the input enters: corpus files, run configuration, the
`Transformer` and `Generator` arguments, `Translator` inputs, saved
translators (translator.json, model.keras, --weights), and the command
line. Cases whose handling cannot depend on the backend (files, text,
argument parsing) run in the TensorFlow leg only; the others on every
backend. More cases live beside their module (readers_test, config_test).
"""

import contextlib
import gzip
import importlib.util
import io
import json
import os
import shutil
import sys

import keras
import numpy as np
import pytest

from keras_transformer.cli import main as cli_main
from keras_transformer.config import ExperimentConfig, apply_overrides, validate
from keras_transformer.data.readers import (
    CorpusError,
    ReadStats,
    find_splits,
    read_parallel_files,
    read_tsv,
)
from keras_transformer.data.tokenizer import SubwordTokenizer
from keras_transformer.decoding import Generator, SearchSettings, TranslationSettings
from keras_transformer.recipes import load_recipe
from keras_transformer.training.trainer import train
from keras_transformer.translator import Translator
from tests.data_helpers import make_pairs
from tests.shrunk import TINY
from tests.tiny import tiny_transformer

once = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="does not depend on the backend: run in the TensorFlow leg",
)


def _write(path, data):
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _pair(tmp_path, source, target, stem="train"):
    return (
        _write(tmp_path / f"{stem}.en", source),
        _write(tmp_path / f"{stem}.de", target),
    )


def _cli(argv, stdin=b""):
    """Runs `keras-transformer ARGV` here: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        try:
            code = cli_main(argv)
        except SystemExit as exit:
            code = exit.code
    return code, out.getvalue(), err.getvalue()


# === Corpus files ===

CORPUS_ERRORS = [
    # (source bytes, target bytes, words the message must hold)
    ("a\nb\n", "x\n", ["train.en", "2", "1"]),  # unequal lengths: both counts
    ("a\nb\nc\n", "x\ny\n", ["3", "2"]),
    ("", "", ["empty"]),
    ("\n\n", "\n\n", ["empty"]),
    (b"caf\xe9\n", "x\n", ["invalid UTF-8", "line 1", "iconv"]),
    (b"ok\nbad \xff\n", "x\ny\n", ["line 2", "column 5"]),
    (b"\xff\xfea\x00\n\x00", "x\n", ["UTF-16"]),
    ("one\rtwo\rthree\r", "eins\rzwei\rdrei\r", ["carriage return", "line 1", "tr"]),
    ("a\rb\n", "x\n", ["carriage return"]),
]


@once
@pytest.mark.parametrize("source, target, words", CORPUS_ERRORS)
def test_corpus_problems_are_errors_naming_file_and_line(
    tmp_path, source, target, words
):
    en, de = _pair(tmp_path, source, target)
    with pytest.raises(CorpusError) as error:
        list(read_parallel_files(en, de))
    for word in words:
        assert word in str(error.value), (word, str(error.value))


COUNTED = [
    # (source, target, pairs kept, empty dropped, NUL dropped)
    ("a\n\nc\n", "x\ny\nz\n", 2, 1, 0),
    ("a\n   \nc\n", "x\ny\nz\n", 2, 1, 0),
    ("a\nb\n", "x\n\t\n", 1, 1, 0),
    ("a\nb\x00c\nd\n", "x\ny\nz\n", 2, 0, 1),
    ("a\nb\n", "x\x00\ny\n", 1, 0, 1),
    ("\ufeffa\nb\n", "x\ny\n", 2, 0, 0),  # a byte-order mark is dropped
    ("a\r\nb\r\n", "x\r\ny\r\n", 2, 0, 0),  # Windows line endings are fine
]


@once
@pytest.mark.parametrize("source, target, kept, empty, nul", COUNTED)
def test_blank_and_nul_pairs_are_dropped_and_counted(
    tmp_path, source, target, kept, empty, nul
):
    en, de = _pair(tmp_path, source, target)
    stats = ReadStats()
    pairs = list(read_parallel_files(en, de, stats))
    assert len(pairs) == kept
    assert (stats.pairs_read, stats.dropped_empty, stats.dropped_nul) == (
        kept,
        empty,
        nul,
    )
    assert all("\x00" not in side for pair in pairs for side in pair)
    if nul:
        assert f"{nul} pair" in stats.describe() and "NUL" in stats.describe()


@once
def test_a_missing_file_and_a_directory_are_named(tmp_path):
    with pytest.raises(CorpusError, match="not found: train.en.*files there"):
        read_parallel_files(tmp_path / "train.en", tmp_path / "train.de")
    (tmp_path / "dir.en").mkdir()
    _write(tmp_path / "dir.de", "x\n")
    with pytest.raises(CorpusError, match="is a directory"):
        read_parallel_files(tmp_path / "dir.en", tmp_path / "dir.de")


@once
def test_a_truncated_gzip_is_named_with_what_to_do(tmp_path):
    data = gzip.compress(("a sentence\n" * 5000).encode())
    _write(tmp_path / "train.en", data[: len(data) // 2])
    _write(tmp_path / "train.de", "x\n" * 5000)
    with pytest.raises(CorpusError, match="truncated or corrupt"):
        list(read_parallel_files(tmp_path / "train.en", tmp_path / "train.de"))


@once
@pytest.mark.parametrize(
    "text, match",
    [
        ("one column\n", "too few columns|column"),
        ("a\tb\nonly\n", "line 2"),
        (b"a\t\xe9\n", "invalid UTF-8"),
    ],
)
def test_tsv_problems_name_the_line(tmp_path, text, match):
    path = _write(tmp_path / "train.tsv", text)
    with pytest.raises(CorpusError, match=match):
        list(read_tsv(path))


@once
@pytest.mark.parametrize(
    "files, match",
    [
        ({"notes.txt": "x"}, "no train split"),
        ({"train.en": "a\n", "train.en.gz": "a\n", "train.de": "x\n"}, "train"),
    ],
)
def test_split_discovery_problems(tmp_path, files, match):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(CorpusError, match=match):
        find_splits(tmp_path, "en", "de")


def _corpus(directory, pairs=200):
    directory.mkdir(exist_ok=True)
    for split, count in (("train", pairs), ("valid", 8), ("test", 8)):
        rows = make_pairs(count, seed=len(split))
        for side, language in enumerate(("en", "de")):
            _write(
                directory / f"{split}.{language}",
                "".join(f"{row[side]}\n" for row in rows),
            )
    return directory


@once
def test_training_on_a_corpus_changed_since_the_run_began_is_an_error(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    config = apply_overrides(
        load_recipe("multi30k"), TINY + [f"data.corpus={corpus}", "train.max_steps=1"]
    )
    train(config, tmp_path / "run", verbose=0)
    with open(corpus / "train.en", "a", encoding="utf-8") as file:
        file.write("One more line.\n")
    with open(corpus / "train.de", "a", encoding="utf-8") as file:
        file.write("Noch eine Zeile.\n")
    with pytest.raises(CorpusError, match="changed since this run began.*train.en"):
        train(config, tmp_path / "run", verbose=0)
    code, _, err = _cli(
        ["train", "multi30k", *[a for o in TINY for a in ("--set", o)],
         "--data-dir", str(corpus), "--workdir", str(tmp_path / "run")]
    )  # fmt: skip
    assert code == 2 and "changed since this run began" in err
    assert "Traceback" not in err


@once
def test_a_corpus_error_inside_the_pipeline_is_raised_as_it_is(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    _write(corpus / "train.en", (corpus / "train.en").read_text() + "extra\n")
    config = apply_overrides(load_recipe("multi30k"), TINY + [f"data.corpus={corpus}"])
    with pytest.raises(CorpusError, match="train.en.*train.de|lines"):
        train(config, tmp_path / "run", verbose=0)


@once
def test_train_reports_the_pairs_it_dropped(tmp_path, capsys):
    corpus = _corpus(tmp_path / "corpus")
    en = (corpus / "train.en").read_text().splitlines()
    de = (corpus / "train.de").read_text().splitlines()
    en[3], de[5], en[7] = "", "   ", "bad\x00line"
    _write(corpus / "train.en", "\n".join(en) + "\n")
    _write(corpus / "train.de", "\n".join(de) + "\n")
    config = apply_overrides(
        load_recipe("multi30k"), TINY + [f"data.corpus={corpus}", "train.max_steps=1"]
    )
    train(config, tmp_path / "run", verbose=0)
    out = capsys.readouterr().out
    assert "train: read 197 pairs; dropped 2 pairs with an empty" in out
    assert "dropped 1 pair holding a NUL character" in out


# === Run configuration ===

OVERRIDE_ERRORS = [
    ("train.epochs=three", "Wrong type for train.epochs: expected int"),
    ("train.epochs=2.5", "expected int"),
    ("decode.num_beams=four", "decode.num_beams"),
    ("decode.length_penalty=high", "decode.length_penalty"),
    ("model.position_encoding=rotary", "Invalid value for model.position_encoding"),
    ("train.mixed_precision=fp16", "mixed_float16"),
    ("model.num_head=4", "did you mean 'model.num_heads'"),
    ("decode.beam_width=4", "Unknown key 'decode.beam_width'"),
    ("num_beams=4", "did you mean 'decode.num_beams'"),
    ("decode=4", "is a section, not a key"),
    ("train.epochs", "is not KEY=VALUE"),
    ("=3", "is not KEY=VALUE"),
    ("data.long_pairs=keep", "one of 'drop', 'truncate'"),
    ("train.max_steps=inf", "train.max_steps"),
    ("model.dropout=nan", "model.dropout"),
    ("train.devices=many", "train.devices"),
]


@once
@pytest.mark.parametrize("override, match", OVERRIDE_ERRORS)
def test_overrides_name_the_bad_key(override, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(ExperimentConfig(), [override])


VALIDATION_ERRORS = [
    ("decode.num_beams=0", "decode.num_beams must be at least 1, found 0"),
    ("decode.max_output_length=0", "decode.max_output_length must be at least 1"),
    ("model.dropout=1.0", "model.dropout must be less than 1"),
    ("model.key_dim=0", "model.key_dim must be at least 1"),
    ("train.label_smoothing=-0.1", "train.label_smoothing must be at least 0"),
    ("data.vocabulary_size=3", "data.vocabulary_size must be at least 5"),
    ("model.num_heads=3", "must be divisible by model.num_heads"),
    ("model.activation=swishy", "not a Keras activation"),
    ("train.average_last=3", "keep at least as many checkpoints"),
    ("name=../escape", "plain directory name"),
    ("data.source_language=de", "are both 'de'"),
    ("decode.max_length_offset=0", "are both 0"),
]


@once
@pytest.mark.parametrize("override, match", VALIDATION_ERRORS)
def test_validation_names_every_problem(override, match):
    overrides = [override]
    if override.startswith("decode.max_length_offset"):
        overrides.append("decode.max_length_ratio=0")
    config = apply_overrides(ExperimentConfig(), overrides)
    with pytest.raises(ValueError, match=match):
        validate(config)


# === Transformer and Generator arguments ===


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_head": 4}, "'num_head' \\(did you mean 'num_heads'\\?\\)"),
        ({"hidden_size": 16}, "'hidden_size'"),
        ({"key_dims": 8}, "did you mean 'key_dim'"),
        ({"dropuot": 0.1}, "did you mean 'dropout'"),
    ],
)
def test_transformer_rejects_unknown_keywords(kwargs, match):
    with pytest.raises(TypeError, match=match):
        tiny_transformer(20, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_heads": 3}, ValueError, "divisible"),
        ({"position_encoding": "rotary"}, ValueError, "position_encoding"),
        ({"key_dim": 0}, ValueError, "key_dim"),
    ],
)
def test_transformer_rejects_impossible_architectures(kwargs, error, match):
    with pytest.raises(error, match=match):
        tiny_transformer(20, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_beams": 0}, ValueError, "num_beams must be at least 1"),
        ({"max_output_length": 0}, ValueError, "max_output_length"),
        ({"length_penalty": -1.0}, ValueError, "length_penalty"),
        ({"num_beams": "4"}, ValueError, "Wrong type for num_beams"),
        ({"beam_width": 4}, TypeError, "Unknown SearchSettings"),
        ({"first_cache_length": 0}, ValueError, "first_cache_length"),
    ],
)
def test_generator_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        Generator(tiny_transformer(20), **kwargs)


@once
def test_settings_from_json_name_the_file_and_key():
    where = "translator.json"
    cases = [
        ({"num_beams": "four"}, "Wrong type for num_beams.*found 'four' in translator"),
        ({"num_beams": 2.5}, "Wrong type for num_beams"),
        ({"num_beams": True}, "Wrong type for num_beams"),
        ({"length_penalty": "0.6"}, "Wrong type for length_penalty"),
        ({"beam_width": 4}, "Unknown setting 'beam_width' in translator.json"),
        ({"num_beam": 4}, "Did you mean 'num_beams'"),
        ({"num_beams": 0}, "num_beams must be at least 1"),
        ([], "must be an object of settings"),
    ]
    for data, match in cases:
        with pytest.raises(ValueError, match=match):
            TranslationSettings.from_dict(data, where)
    assert TranslationSettings.from_dict({}, where) == TranslationSettings()
    # JSON numbers widen to float where a float is expected.
    assert (
        TranslationSettings.from_dict({"length_penalty": 1}, where).length_penalty == 1
    )
    with pytest.raises(TypeError, match="Unknown SearchSettings"):
        SearchSettings.build(batch_size=4)


# === Translator inputs ===


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved tiny translator (untrained), shared by the cases below."""
    directory = tmp_path_factory.mktemp("saved")
    pairs = make_pairs(200)
    tokenizer = SubwordTokenizer.train((s for pair in pairs for s in pair), 60)
    keras.utils.set_random_seed(5)
    translator = Translator(
        tiny_transformer(tokenizer.vocabulary_size),
        tokenizer,
        num_beams=2,
        max_length_offset=4,
    )
    translator.save(directory / "translator")
    return directory / "translator"


@pytest.fixture(scope="module")
def translator(saved):
    return Translator.load(saved)


@pytest.mark.parametrize(
    "texts, error, match",
    [
        (b"abc", TypeError, "not bytes"),
        (bytearray(b"abc"), TypeError, "not bytes"),
        (["ok", b"bytes"], TypeError, "item 1 is of type bytes \\(decode it first\\)"),
        (["ok", 3], TypeError, "item 1 is of type int"),
        ([None], TypeError, "item 0 is of type NoneType"),
        (["ok", "bad \ud800 surrogate"], ValueError, "item 1.*lone surrogate"),
        ("\udcff", ValueError, "item 0.*lone surrogate.*character 1"),
    ],
)
def test_translate_names_the_bad_item(translator, texts, error, match):
    with pytest.raises(error, match=match):
        translator.translate(texts)
    with pytest.raises(error, match=match):
        translator.translate_n_best(texts)


def test_n_best_of_a_string_is_one_sentences_n_best(translator):
    n_best = translator.translate_n_best("A dog runs.")
    assert len(n_best) == 2  # beams, not characters
    assert all(isinstance(text, str) for text, _ in n_best)
    assert translator.translate_n_best(["A dog runs."]) == [n_best]
    assert translator.translate_n_best([]) == []


@pytest.mark.parametrize("text", ["", "   ", "\u2028", "Zoë ☃ 漢字", "x" * 2000])
def test_odd_text_translates_without_an_error(translator, text):
    with warnings_allowed():
        assert isinstance(translator.translate(text), str)


@contextlib.contextmanager
def warnings_allowed():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_translator_settings_are_checked(saved, translator):
    with pytest.raises(TypeError, match="Unknown Translator settings"):
        Translator.load(saved, beam_size=2)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        Translator(translator.model, translator.source_tokenizer, batch_size=0)


# === Saved translators ===


def _copy(saved, tmp_path):
    copy = tmp_path / "translator"
    shutil.copytree(saved, copy)
    return copy


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda c: {**c, "decoding": {**c["decoding"], "num_beams": "four"}},
         ValueError, "Wrong type for num_beams.*translator.json"),
        (lambda c: {**c, "decoding": {**c["decoding"], "num_beams": 2.5}},
         ValueError, "Wrong type for num_beams"),
        (lambda c: {**c, "decoding": {**c["decoding"], "length_penalty": "0.6"}},
         ValueError, "length_penalty"),
        (lambda c: {**c, "decoding": {**c["decoding"], "beam_width": 4}},
         ValueError, "Unknown setting 'beam_width'"),
        (lambda c: {k: v for k, v in c.items() if k != "decoding"},
         ValueError, "'decoding' must be a object|'decoding'"),
        (lambda c: {**c, "format_version": 99}, ValueError, "format_version 99"),
        (lambda c: {**c, "model": 3}, ValueError, "'model' must be a file name"),
        (lambda c: [], ValueError, "must hold a JSON object"),
    ],
)  # fmt: skip
def test_a_bad_translator_json_is_named(saved, tmp_path, edit, error, match):
    copy = _copy(saved, tmp_path)
    path = copy / "translator.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(edit(config)))
    with pytest.raises(error, match=match):
        Translator.load(copy)
    assert str(path) in str(_raised(lambda: Translator.load(copy)))


def _raised(function):
    try:
        function()
    except Exception as error:  # noqa: BLE001
        return error
    raise AssertionError("no error")


def test_invalid_json_is_named(saved, tmp_path):
    copy = _copy(saved, tmp_path)
    (copy / "translator.json").write_text('{"format_version": 1,')
    with pytest.raises(ValueError, match="translator.json is not valid JSON"):
        Translator.load(copy)


@pytest.mark.parametrize("keep", ["half", "minus 100 bytes", "empty"])
def test_a_truncated_model_file_is_named_not_missing(saved, tmp_path, keep):
    copy = _copy(saved, tmp_path)
    model = copy / "model.keras"
    data = model.read_bytes()
    size = {"half": len(data) // 2, "minus 100 bytes": len(data) - 100, "empty": 0}
    model.write_bytes(data[: size[keep]])
    with pytest.raises(ValueError, match="model.keras is not a Keras model file"):
        Translator.load(copy)


def test_a_missing_model_or_tokenizer_is_named(saved, tmp_path):
    copy = _copy(saved, tmp_path)
    os.unlink(copy / "source_tokenizer.model")
    code, _, err = _cli(["export", str(copy), "--output", str(tmp_path / "sm")])
    assert code == 2 and "No tokenizer file" in err and "Traceback" not in err
    os.unlink(copy / "model.keras")
    with pytest.raises(FileNotFoundError, match="No model file"):
        Translator.load(copy)


def test_exporting_a_damaged_translator_is_one_line_not_a_traceback(saved, tmp_path):
    copy = _copy(saved, tmp_path)
    data = (copy / "model.keras").read_bytes()
    (copy / "model.keras").write_bytes(data[: len(data) // 2])
    code, out, err = _cli(["export", str(copy), "--output", str(tmp_path / "sm")])
    assert code == 2
    assert "model.keras is not a Keras model file" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not hdf5 at all\n", "Could not read .* as HDF5"),
        (b"", "Could not read .* as HDF5"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 20, "Could not read .* as HDF5"),
    ],
)
def test_a_weights_file_that_is_not_hdf5_is_named(saved, tmp_path, content, match):
    path = _write(tmp_path / "best.weights.h5", content)
    with pytest.raises(ValueError, match=match):
        Translator.load(saved, weights=path)
    code, _, err = _cli(["translate", str(saved), "--weights", str(path), "Hi."])
    assert code == 2 and "as HDF5" in err and "Traceback" not in err


def test_weights_of_another_model_and_wrong_names(saved, tmp_path):
    other = tiny_transformer(60, num_layers=2)
    ids = np.ones((1, 3), "int32")
    other({"encoder_token_ids": ids, "decoder_token_ids": ids})  # builds it
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match="do not fit the model"):
        Translator.load(saved, weights=path)
    with pytest.raises(ValueError, match="expected a .weights.h5 file"):
        Translator.load(saved, weights=tmp_path / "other.h5")
    with pytest.raises(FileNotFoundError, match="No weights file"):
        Translator.load(saved, weights=tmp_path / "missing.weights.h5")


# === The command line ===

USAGE_ERRORS = [
    (["translate", "DIR", "--num-beams", "0", "x"], "--num-beams: must be at least 1"),
    (["translate", "DIR", "--num-beams", "-2", "x"], "must be at least 1"),
    (["translate", "DIR", "--num-beams", "four", "x"], "expected a whole number"),
    (
        ["translate", "DIR", "--batch-size", "0", "x"],
        "--batch-size: must be at least 1",
    ),
    (["evaluate", "DIR", "--num-beams", "0"], "must be at least 1"),
    (["evaluate", "DIR", "--batch-size", "0"], "must be at least 1"),
    (["export", "DIR", "--version", "-1"], "--version: must be at least 1"),
    (["export", "DIR", "--version", "0"], "must be at least 1"),
    (["export", "DIR", "--version", "one"], "expected a whole number"),
    (["export", "DIR", "--num-beams", "0"], "must be at least 1"),
    (["attention", "x", "--model", "DIR", "--num-beams", "0"], "must be at least 1"),
    (["train"], "the following arguments are required: recipe"),
    (["fly"], "invalid choice: 'fly'"),
    (["translate"], "required: translator"),
    (["plot-history"], "required: workdir"),
    (["train", "builtin", "--bogus"], "unrecognized arguments: --bogus"),
]


@once
@pytest.mark.parametrize("argv, message", USAGE_ERRORS)
def test_usage_errors_exit_2_naming_the_option(argv, message):
    code, _, err = _cli(argv)
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err


INPUT_ERRORS = [
    (["train", "multi30"], "Did you mean 'multi30k'?"),
    (["train", "missing.py"], "No recipe file at missing.py"),
    (
        ["train", "builtin", "--set", "train.epochs=three"],
        "Wrong type for train.epochs",
    ),
    (
        ["train", "builtin", "--set", "model.num_head=4"],
        "did you mean 'model.num_heads'",
    ),
    (["train", "builtin", "--set", "decode.num_beams=0"], "decode.num_beams must be"),
    (["translate", "no/such/dir", "x"], "is not a saved translator"),
    (["evaluate", "no/such/dir"], "is not a saved translator"),
    (["export", "no/such/dir"], "is not a saved translator"),
    (["plot-history", "no/such/run"], "history"),
]


@once
@pytest.mark.parametrize("argv, message", INPUT_ERRORS)
def test_bad_inputs_exit_2_with_one_clear_line(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(argv)
    assert code == 2
    assert message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "stdin, match",
    [
        (b"Gr\xfc\xdfe aus K\xf6ln\n", "standard input, line 1: invalid UTF-8"),
        (b"fine\nalso fine\ncaf\xe9\n", "line 3"),
        (b"\xff\xfeH\x00i\x00\n\x00", "line 1"),
    ],
)
def test_non_utf8_input_is_named_by_line(saved, stdin, match):
    code, out, err = _cli(["translate", str(saved)], stdin=stdin)
    assert code == 2 and match in err and out == ""
    assert "iconv" in err and "Traceback" not in err


def test_an_input_file_that_is_a_directory_or_missing(saved, tmp_path):
    code, _, err = _cli(["translate", str(saved), "--input", str(tmp_path)])
    assert code == 2 and "is a directory" in err
    code, _, err = _cli(["translate", str(saved), "--input", str(tmp_path / "no.txt")])
    assert code == 2 and "no.txt" in err


def test_translate_prints_translations_alone(saved, tmp_path):
    _write(tmp_path / "in.txt", "A dog runs.\n\nThe child sings.\n")
    code, out, err = _cli(
        ["translate", str(saved), "--input", str(tmp_path / "in.txt")]
    )
    assert code == 0
    assert len(out.splitlines()) == 3  # one line per input line, the empty one too
    code, out, _ = _cli(["translate", str(saved)], stdin=b"A dog runs.\r\n")
    assert code == 0 and len(out.splitlines()) == 1


def test_evaluate_json_is_the_only_thing_on_stdout(saved, tmp_path):
    source = _write(tmp_path / "src.en", "A dog runs.\nThe child sings.\n")
    reference = _write(tmp_path / "ref.de", "Ein Hund läuft.\nDas Kind singt.\n")
    code, out, err = _cli(
        ["evaluate", str(saved), "--source-file", str(source),
         "--reference-file", str(reference), "--json"]
    )  # fmt: skip
    assert code == 0, err
    scores = json.loads(out)  # nothing else on standard output
    assert {"bleu", "chrf"} <= set(scores)
    code, out, _ = _cli(
        ["evaluate", str(saved), "--source-file", str(source),
         "--reference-file", str(reference)]
    )  # fmt: skip
    assert code == 0 and out.startswith("BLEU")


def test_evaluate_with_unequal_files_is_a_corpus_error(saved, tmp_path):
    source = _write(tmp_path / "src.en", "a\nb\n")
    reference = _write(tmp_path / "ref.de", "x\n")
    code, _, err = _cli(
        ["evaluate", str(saved), "--source-file", str(source),
         "--reference-file", str(reference)]
    )  # fmt: skip
    assert code == 2 and "src.en" in err and "Traceback" not in err
    code, _, err = _cli(["evaluate", str(saved), "--source-file", str(source)])
    assert code == 2 and "go together" in err


# === Benchmark scripts ===

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")


def _benchmark(script, argv):
    """Runs `python benchmarks/SCRIPT ARGV` in this process: (exit code,
    standard error)."""
    spec = importlib.util.spec_from_file_location(
        script[:-3], os.path.join(BENCHMARKS, script)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr(sys, "argv", [script, *argv])
        try:
            module.main()
            code = 0
        except SystemExit as exit:
            code = exit.code
    return code, err.getvalue()


@once
def test_benchmark_scripts_name_a_missing_input_and_exit_2(saved, tmp_path):
    missing = str(tmp_path / "missing")
    lines = _write(tmp_path / "two.en", "a\nb\n")
    one = _write(tmp_path / "one.de", "x\n")
    cases = [
        ("decoding_throughput.py", ["--data-dir", missing], "corpus directory"),
        ("decoding_throughput.py", ["--source-ids", missing], missing),
        ("decoding_throughput.py", ["--source-ids", str(lines)], str(lines)),
        ("pipeline_throughput.py", ["--data-dir", missing], "corpus directory"),
        (
            "translation_throughput.py",
            [missing, "--source-file", str(lines), "--reference-file", str(lines)],
            "is not a saved translator",
        ),
        (
            "translation_throughput.py",
            [str(saved), "--source-file", missing, "--reference-file", str(lines)],
            missing,
        ),
        (
            "translation_throughput.py",
            [str(saved), "--source-file", str(lines), "--reference-file", str(one)],
            "line counts differ: --source-file 2, --reference-file 1",
        ),
        (
            "search_steps.py",
            [missing, "--source-file", str(lines)],
            "is not a saved translator",
        ),
        (
            "search_steps.py",
            [str(saved), "--source-file", str(lines), "--batch-size", "0"],
            "--batch-size must be at least 1",
        ),
        (
            "search_steps.py",
            [str(saved), "--source-file", str(_write(tmp_path / "empty.en", ""))],
            "has no lines",
        ),
        ("decoding_throughput.py", ["--repeats", "0"], "--repeats and --batch-size"),
        (
            "decoding_throughput.py",
            ["--ctranslate2-threads", "0"],
            "--ctranslate2-threads must be at least 1; received 0",
        ),
        ("int8_matmul.py", ["--calls", "0"], "--calls and --repeats must be"),
        (
            "translation_throughput.py",
            [str(saved), "--source-file", str(lines), "--reference-file", str(lines)]
            + ["--repeats", "0"],
            "--repeats and --batch-size must be at least 1",
        ),
        (
            "translation_throughput.py",
            [str(saved), "--source-file", str(lines), "--reference-file", str(lines)]
            + ["--ctranslate2-threads", "2,0"],
            "received '2,0'",
        ),
        (
            "translation_throughput.py",
            [str(saved), "--source-file", str(lines), "--reference-file", str(lines)]
            + ["--ctranslate2-threads", "two"],
            "--ctranslate2-threads takes counts of at least 1",
        ),
    ]
    for script, argv, message in cases:
        code, err = _benchmark(script, argv)
        assert code == 2, (script, argv, err)
        assert message in err, (script, argv, err)
        assert "Traceback" not in err
