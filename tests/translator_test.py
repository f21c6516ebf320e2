"""Translator and SavedModel export: strings in, strings out, the same in
Python and in the exported graph, from a model saved on any backend."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_transformer import Transformer
from keras_transformer.cli import main as cli_main
from keras_transformer.export import export_saved_model, next_version
from keras_transformer.special_tokens import END_ID
from keras_transformer.translator import Translator
from tests.tiny import tiny_transformer

SENTENCES = [
    "A dog runs in the park.",
    "",
    "Zwölf ☃ characters never seen: 象形",
    "two",
]


def _translator(tokenizer, **settings):
    keras.utils.set_random_seed(5)
    model = tiny_transformer(tokenizer.vocabulary_size)
    settings = {"num_beams": 2, "max_length_offset": 4, **settings}
    return Translator(model, tokenizer, **settings)


def test_translate_returns_one_string_per_input(tokenizer):
    translator = _translator(tokenizer)
    translations = translator.translate(SENTENCES)
    assert len(translations) == len(SENTENCES)
    assert all(isinstance(t, str) for t in translations)
    assert translations[1] == ""  # empty in, empty out
    assert translator.translate(SENTENCES[0]) == translations[0]
    assert translator.translate([]) == []


def test_batching_does_not_change_translations(tokenizer):
    whole = _translator(tokenizer, batch_size=8).translate(SENTENCES)
    one_by_one = _translator(tokenizer, batch_size=1).translate(SENTENCES)
    # Each batch searched whole, in one program: no sentence leaves early.
    undropped = _translator(tokenizer, batch_size=8, drop_finished=False)
    assert not undropped.generator.drop_finished
    assert whole == one_by_one == undropped.translate(SENTENCES)


def test_n_best_is_sorted_and_starts_with_the_translation(tokenizer):
    translator = _translator(tokenizer, num_beams=3)
    n_best = translator.translate_n_best(SENTENCES)
    translations = translator.translate(SENTENCES)
    for candidates, translation in zip(n_best, translations, strict=True):
        assert len(candidates) == 3
        scores = [score for _, score in candidates]
        assert scores == sorted(scores, reverse=True)
        assert candidates[0][0] == translation


def test_long_sources_are_truncated_with_a_warning(tokenizer):
    translator = _translator(tokenizer, max_source_length=5)
    with pytest.warns(UserWarning, match="Truncated 1 of 2 source sentences"):
        long_translation = translator.translate(["dog " * 40, "two"])[0]
    truncated = translator.source_tokenizer.detokenize(
        translator.source_tokenizer.tokenize("dog " * 40)[:5]
    )
    assert long_translation == translator.translate(truncated)


def test_learned_positions_bound_sources_and_outputs(tokenizer):
    """A learned position table of 12 rows: longer sources are cut to 12
    tokens (saying why) and outputs end within 12 positions, where the
    model would otherwise fail on a position it has no embedding for."""
    keras.utils.set_random_seed(5)
    model = tiny_transformer(
        tokenizer.vocabulary_size, position_encoding="learned", max_sequence_length=12
    )
    translator = Translator(model, tokenizer, num_beams=2, max_length_offset=30)
    assert translator.source_length_limit == 12
    with pytest.warns(UserWarning, match="to 12 tokens \\(the model's max_seq"):
        token_ids, _ = translator.search(translator.encode_sources(["dog " * 40]))
    assert token_ids[0].shape[-1] <= 12
    assert (token_ids[0] == END_ID).any(axis=-1).all()


def test_non_strings_are_rejected_with_their_position(tokenizer):
    with pytest.raises(TypeError, match="item 1 is of type int"):
        _translator(tokenizer).translate(["fine", 3])


def test_save_and_load_round_trip(tokenizer, tmp_path):
    translator = _translator(tokenizer)
    translator.save(tmp_path / "translator")
    loaded = Translator.load(tmp_path / "translator")
    assert loaded.translate(SENTENCES) == translator.translate(SENTENCES)
    assert loaded.decoding_settings() == translator.decoding_settings()
    greedy = Translator.load(tmp_path / "translator", num_beams=1, drop_finished=False)
    assert greedy.num_beams == 1
    assert not greedy.generator.drop_finished
    with pytest.raises(TypeError, match="Unknown Translator settings"):
        Translator.load(tmp_path / "translator", beams=1)


def test_load_with_a_checkpoint_takes_its_weights(tokenizer, tmp_path, capsys):
    translator = _translator(tokenizer)
    translator.save(tmp_path / "translator")
    for variable in translator.model.weights:
        variable.assign(variable * 1.5 + 0.01)
    translator.model.save_weights(tmp_path / "step-0000009.weights.h5")
    loaded = Translator.load(
        tmp_path / "translator", weights=tmp_path / "step-0000009.weights.h5"
    )
    for mine, expected in zip(
        loaded.model.weights, translator.model.weights, strict=True
    ):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(expected)
        )
    assert loaded.translate(SENTENCES) == translator.translate(SENTENCES)

    checkpoint = str(tmp_path / "step-0000009.weights.h5")
    capsys.readouterr()
    cli_main(
        ["translate", str(tmp_path / "translator"), "--weights", checkpoint]
        + SENTENCES[:1]
    )
    assert capsys.readouterr().out.splitlines() == translator.translate(SENTENCES[:1])
    with pytest.raises(SystemExit) as exit_info:
        cli_main(
            [
                "translate",
                str(tmp_path / "translator"),
                "hello",
                "--weights",
                str(tmp_path / "no.weights.h5"),
            ]
        )
    assert exit_info.value.code == 2
    assert "No weights file" in capsys.readouterr().err


def test_load_explains_a_checkpoint_that_does_not_fit(tokenizer, tmp_path):
    _translator(tokenizer).save(tmp_path / "translator")
    # The translator's model has 1 layer and width 16.
    for name, num_layers, hidden_dim, found in [
        ("deeper", 2, 16, "the file holds 85 arrays, the model has 43 weights"),
        ("wider", 1, 32, "shape"),
    ]:
        other = Transformer(
            vocabulary_size=tokenizer.vocabulary_size,
            num_layers=num_layers,
            num_heads=2,
            hidden_dim=hidden_dim,
            intermediate_dim=32,
        )
        other(
            {
                "encoder_token_ids": np.array([[5, 6, 7]]),
                "decoder_token_ids": np.array([[1, 8]]),
            }
        )
        other.save_weights(tmp_path / f"{name}.weights.h5")
        with pytest.raises(ValueError, match="do not fit the model") as error:
            Translator.load(
                tmp_path / "translator", weights=tmp_path / f"{name}.weights.h5"
            )
        assert found in str(error.value)
    with pytest.raises(FileNotFoundError, match="No weights file"):
        Translator.load(tmp_path / "translator", weights=tmp_path / "no.weights.h5")
    with pytest.raises(ValueError, match="expected a .weights.h5 file"):
        Translator.load(tmp_path / "translator", weights=tmp_path / "translator")


def test_load_explains_a_wrong_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved translator"):
        Translator.load(tmp_path)


def test_saving_over_a_translator_replaces_it_whole(tokenizer, tmp_path):
    _translator(tokenizer, num_beams=2).save(tmp_path / "t")
    _translator(tokenizer, num_beams=3).save(tmp_path / "t")
    assert Translator.load(tmp_path / "t").num_beams == 3
    assert sorted(os.listdir(tmp_path)) == ["t"]  # no temporary left behind


SERVE_SCRIPT = """
import json, sys, threading
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece ops
sentences = json.loads(sys.argv[2])
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
ids = model.signatures["token_ids"](inputs=tf.constant(sentences))
sequential = [serve(inputs=tf.constant(sentences)) for _ in range(8)]
threaded = [None] * 8
def call(i):
    threaded[i] = serve(inputs=tf.constant(sentences))
threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
decode = lambda r: [s.decode() for s in r["translations"].numpy().tolist()]
# The loader of TensorFlow Serving and saved_model_cli: a TF1 session that
# restores the variables by name.
with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
    meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], sys.argv[1])
    signature = meta_graph.signature_def["serving_default"]
    session_translations = session.run(
        signature.outputs["translations"].name,
        {signature.inputs["inputs"].name: sentences},
    )
print(json.dumps({
    "session_translations": [s.decode() for s in session_translations.tolist()],
    "translations": decode(sequential[0]),
    "scores": sequential[0]["scores"].numpy().tolist(),
    "token_ids": ids["token_ids"].numpy().tolist(),
    "sequential_agree": all(decode(r) == decode(sequential[0]) for r in sequential),
    "threaded_agree": all(decode(r) == decode(sequential[0]) for r in threaded),
}))
"""


def _documented_saved_model_cli():
    """The Python snippet docs/serving.md runs `saved_model_cli` with."""
    root = os.path.dirname(os.path.dirname(__file__))
    with open(os.path.join(root, "docs", "serving.md"), encoding="utf-8") as file:
        for line in file:
            if "saved_model_cli import main" in line:
                return line.split("-c '", 1)[1].split("'", 1)[0]
    raise AssertionError("docs/serving.md has no saved_model_cli command")


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the exported graph does not depend on the backend; the test below "
    "serves an export of each backend's translator",
)
def test_documented_saved_model_cli_command_translates_like_the_translator(
    tokenizer, tmp_path
):
    translator = _translator(tokenizer, num_beams=3)
    translator.save(tmp_path / "translator")
    path = export_saved_model(tmp_path / "translator", tmp_path / "serving")
    sentences = [SENTENCES[0], SENTENCES[2]]
    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            _documented_saved_model_cli(),
            "run",
            "--dir",
            path,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            f"inputs={sentences!r}",
            "--outdir",
            str(tmp_path / "outputs"),
        ],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]
    translations = np.load(tmp_path / "outputs" / "translations.npy", allow_pickle=True)
    assert [t.decode() for t in translations.tolist()] == translator.translate(
        sentences
    )


def test_exported_saved_model_translates_like_the_translator(tokenizer, tmp_path):
    """Exports a translator saved on this backend (a TensorFlow process does
    it when this backend is another) and serves it with plain TensorFlow in a
    fresh process, from 8 threads at once too, and from a TF1 session as
    TensorFlow Serving loads it."""
    translator = _translator(tokenizer, num_beams=3)
    translator.save(tmp_path / "run" / "translator")
    path = export_saved_model(tmp_path / "run" / "translator", tmp_path / "serving")
    assert path == os.path.join(tmp_path / "serving", "run", "1")
    assert next_version(tmp_path / "serving", "run") == 2
    served = subprocess.run(
        [sys.executable, "-c", SERVE_SCRIPT, path, json.dumps(SENTENCES)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["translations"] == translator.translate(SENTENCES)
    assert result["session_translations"] == result["translations"]
    n_best = translator.translate_n_best(SENTENCES)
    # An empty source's score is that of an all-padding encoder input, which
    # backends define differently; its translation (empty) is what counts.
    scored = [i for i, sentence in enumerate(SENTENCES) if sentence]
    np.testing.assert_allclose(
        [result["scores"][i] for i in scored],
        [n_best[i][0][1] for i in scored],
        rtol=1e-4,
        atol=1e-5,
    )
    exported_best = [
        translator.output_tokenizer.detokenize(ids[0]) for ids in result["token_ids"]
    ]
    assert exported_best == result["translations"]
    assert result["sequential_agree"] and result["threaded_agree"]
    with pytest.raises(FileExistsError, match="TensorFlow Serving"):
        export_saved_model(
            tmp_path / "run" / "translator", tmp_path / "serving", version=1
        )
