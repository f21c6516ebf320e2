"""Export to CTranslate2: the exported model translates as our `Generator`
does (the same ids, scores within float32 rounding), for greedy and beam
search under settings both engines share, from translators of this backend."""

import json

import keras
import numpy as np
import pytest

from keras_transformer import Transformer
from keras_transformer.cli import main as cli_main
from keras_transformer.data.tokenizer import SubwordTokenizer
from keras_transformer.decoding import Generator
from keras_transformer.special_tokens import END_ID, START_ID
from keras_transformer.translator import Translator
from tests.data_helpers import make_pairs
from tests.tiny import fixture_model_as_ctranslate2, tiny_transformer

ctranslate2 = pytest.importorskip("ctranslate2")
from keras_transformer import ctranslate2_export as exporter  # noqa: E402

# Scores are sums of float32 log probabilities computed by two engines.
SCORE_TOLERANCE = 1e-4
# Searches both engines run alike (`translation_options`).
SHARED_SEARCHES = {
    "greedy": {"num_beams": 1},
    "beam, alpha 0": {"num_beams": 4, "length_penalty": 0.0},
    "beam, power 0.6": {
        "num_beams": 4,
        "length_penalty": 0.6,
        "length_normalization": "power",
        "early_stopping": True,
    },
    "beam, power 1.5": {
        "num_beams": 4,
        "length_penalty": 1.5,
        "length_normalization": "power",
        "early_stopping": True,
    },
}


def _hypotheses(token_ids):
    """Our `(beams, length)` output ids as lists that stop before the end."""
    return [list(row[: list(row).index(END_ID)]) for row in token_ids.tolist()]


def _ctranslate2_ids(result, pieces):
    index = {piece: i for i, piece in enumerate(pieces)}
    return [[index[piece] for piece in hypothesis] for hypothesis in result.hypotheses]


def _assert_same_searches(ours, theirs, pieces):
    for row, result in enumerate(theirs):
        assert _ctranslate2_ids(result, pieces) == _hypotheses(ours["token_ids"][row])
        np.testing.assert_allclose(
            result.scores, ours["scores"][row], atol=SCORE_TOLERANCE
        )


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory):
    """The decoding fixture's model (post-LN, sinusoidal positions, one
    tied vocabulary) as a CTranslate2 model."""
    directory = tmp_path_factory.mktemp("fixture_ctranslate2")
    fixture, model, pieces = fixture_model_as_ctranslate2(directory)
    return fixture, model, pieces, ctranslate2.Translator(str(directory))


@pytest.mark.parametrize("search", SHARED_SEARCHES)
def test_fixture_model_searches_the_same_in_ctranslate2(fixture_export, search):
    fixture, model, pieces, translator = fixture_export
    settings = SHARED_SEARCHES[search]
    # Outputs end well before the limits here (see the exporter's doc).
    ours = Generator(model, max_length_offset=20, **settings).generate(
        fixture["sources"]
    )
    sources = [[pieces[i] for i in row if i] for row in fixture["sources"].tolist()]
    theirs = translator.translate_batch(
        sources,
        beam_size=settings["num_beams"],
        num_hypotheses=settings["num_beams"],
        length_penalty=0.0
        if settings["num_beams"] == 1
        else settings["length_penalty"],
        min_decoding_length=0,
        return_scores=True,
    )
    _assert_same_searches(ours, theirs, pieces)


def test_gnmt_beam_search_differs_and_says_so(fixture_export):
    """GNMT's penalty is not CTranslate2's: the options say so, and what
    CTranslate2 ranks first is scored by the power rule."""
    fixture, model, pieces, _ = fixture_export
    translator = Translator(model, None, num_beams=4, length_penalty=0.6)
    options = exporter.translation_options(translator)
    assert not options["same_translations"]
    assert [line.split(":")[0] for line in options["differences"]] == [
        "beam scores",
        "stopping",
    ]
    power = Translator(
        model,
        None,
        num_beams=4,
        length_penalty=0.6,
        length_normalization="power",
        early_stopping=True,
    )
    assert exporter.translation_options(power)["same_translations"]
    greedy = exporter.translation_options(Translator(model, None, num_beams=1))
    assert greedy["same_translations"]
    assert greedy["translate_batch"]["length_penalty"] == 0.0


def _tokenized(tokenizer, texts, length, start=False, end=False):
    batch = np.zeros((len(texts), length), "int32")
    for row, ids in enumerate(tokenizer.tokenize(texts)):
        ids = [START_ID] * start + ids.tolist() + [END_ID] * end
        batch[row, : len(ids)] = ids
    return batch


@pytest.fixture(scope="module")
def trained_translator(tmp_path_factory):
    """A freshly trained tiny translator of the other architecture: pre-LN,
    learned positions, separate vocabularies, untied output projection,
    GELU; saved by this backend, searching with CTranslate2's rules."""
    pairs = make_pairs(240, seed=3)
    source_tokenizer = SubwordTokenizer.train([p[0] for p in pairs], 32)
    target_tokenizer = SubwordTokenizer.train([p[1] for p in pairs], 34)
    # Pairs of up to 2 clauses: 95 tokens at most, in a table of 96.
    pairs = [p for p in pairs if " and " not in p[0].split(" and ", 1)[-1]]
    sources, targets = [p[0] for p in pairs], [p[1] for p in pairs]
    keras.utils.set_random_seed(0)
    model = Transformer(
        vocabulary_size=source_tokenizer.vocabulary_size,
        target_vocabulary_size=target_tokenizer.vocabulary_size,
        tie_embeddings=False,
        normalize_first=True,
        position_encoding="learned",
        max_sequence_length=96,
        activation="gelu",
        num_layers=1,
        num_heads=2,
        hidden_dim=32,
        intermediate_dim=64,
        dropout=0.0,
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    )
    inputs = {
        "encoder_token_ids": _tokenized(source_tokenizer, sources, 96),
        "decoder_token_ids": _tokenized(target_tokenizer, targets, 96, start=True),
    }
    labels = _tokenized(target_tokenizer, targets, 96, end=True)
    model.fit(inputs, labels, batch_size=20, epochs=40, verbose=0)
    translator = Translator(
        model,
        source_tokenizer,
        target_tokenizer,
        num_beams=4,
        length_penalty=0.6,
        length_normalization="power",
        early_stopping=True,
    )
    directory = tmp_path_factory.mktemp("trained") / "translator"
    translator.save(directory)
    return directory, sources[:12]


def test_trained_translator_exported_by_the_cli_translates_the_same(
    trained_translator, tmp_path, capsys
):
    directory, sources = trained_translator
    ours = Translator.load(directory)
    output = tmp_path / "exports"
    assert (
        cli_main(
            [
                "export",
                str(directory),
                "--format",
                "ctranslate2",
                "--output",
                str(output),
                "--name",
                "tiny",
            ]
        )
        == 0
    )
    exported = output / "tiny"
    assert "Exported a CTranslate2 model" in capsys.readouterr().out
    assert {path.name for path in exported.iterdir()} == {
        "model.bin",
        "config.json",
        "source_vocabulary.json",
        "target_vocabulary.json",
        "source_tokenizer.model",
        "target_tokenizer.model",
        "translation_options.json",
    }
    options = json.loads((exported / "translation_options.json").read_text())
    assert options["same_translations"], options["differences"]

    # As a CTranslate2 user runs it: its SentencePiece model, its options.
    source_tokenizer = SubwordTokenizer.load(str(exported / "source_tokenizer.model"))
    target_tokenizer = SubwordTokenizer.load(str(exported / "target_tokenizer.model"))
    pieces = source_tokenizer.pieces()
    tokens = [[pieces[i] for i in ids] for ids in source_tokenizer.tokenize(sources)]
    theirs = ctranslate2.Translator(str(exported)).translate_batch(
        tokens, num_hypotheses=ours.num_beams, **options["translate_batch"]
    )
    source_ids = ours.encode_sources(sources)
    token_ids, scores = ours.search(source_ids)
    target_pieces = target_tokenizer.pieces()
    compared = []
    for row, result in enumerate(theirs):
        hypotheses = _hypotheses(token_ids[row])
        # Hypotheses that reach a length limit end differently (the
        # exporter's doc); a sentence is compared when none of its do.
        limit = min(len(source_ids[row]) + ours.max_length_offset, 96) - 1
        if max(map(len, hypotheses)) >= limit:
            continue
        compared.append(row)
        assert _ctranslate2_ids(result, target_pieces) == hypotheses
        np.testing.assert_allclose(result.scores, scores[row], atol=SCORE_TOLERANCE)
        translation = target_tokenizer.detokenize(
            _ctranslate2_ids(result, target_pieces)[0]
        )
        assert translation == ours.translate(sources[row])
    assert len(compared) >= 9, compared


def test_ctranslate2_int8_export_loads_and_translates(trained_translator, tmp_path):
    directory, sources = trained_translator
    exporter.export_ctranslate2(directory, tmp_path / "int8", quantization="int8")
    config = json.loads((tmp_path / "int8" / "config.json").read_text())
    assert config["layer_norm_epsilon"] == pytest.approx(1e-5)
    translator = ctranslate2.Translator(str(tmp_path / "int8"), compute_type="int8")
    pieces = SubwordTokenizer.load(
        str(tmp_path / "int8" / "source_tokenizer.model")
    ).pieces()
    results = translator.translate_batch(
        [[pieces[5], pieces[6]]], beam_size=2, max_decoding_length=10
    )
    assert results[0].hypotheses[0]


def test_export_refuses_what_ctranslate2_cannot_run(tmp_path, capsys):
    pieces = [f"p{i}" for i in range(20)]
    with pytest.raises(ValueError, match="key_dim=4"):
        exporter.transformer_spec(tiny_transformer(20, key_dim=4), pieces, pieces)
    with pytest.raises(ValueError, match="no 'elu' activation"):
        exporter.transformer_spec(
            tiny_transformer(20, activation="elu"), pieces, pieces
        )
    quantized = tiny_transformer(20)
    quantized.quantize("int8")
    with pytest.raises(ValueError, match="quantized \\(int8\\); export the float"):
        exporter.transformer_spec(quantized, pieces, pieces)
    with pytest.raises(ValueError, match="Unknown CTranslate2 quantization 'int4'"):
        exporter.export_ctranslate2("unused", tmp_path / "x", quantization="int4")

    for argv, message in (
        (["export", str(tmp_path / "none"), "--format", "ctranslate2"], "not a saved"),
        (
            ["export", str(tmp_path), "--format", "ctranslate2", "--version", "2"],
            "--version applies to SavedModels",
        ),
        (["export", str(tmp_path), "--quantization", "int8"], "ctranslate2 only"),
        (
            ["export", str(tmp_path), "--format", "ctranslate2", "--quantization", "q"],
            "Unknown CTranslate2 quantization 'q'",
        ),
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_export_does_not_replace_a_model_unless_forced(trained_translator, tmp_path):
    directory, _ = trained_translator
    (tmp_path / "model").mkdir()
    with pytest.raises(FileExistsError, match="exists"):
        exporter.export_ctranslate2(directory, tmp_path / "model")
    options = exporter.export_ctranslate2(
        directory, tmp_path / "model", force=True, num_beams=1
    )
    assert options["translate_batch"]["beam_size"] == 1
    assert (tmp_path / "model" / "model.bin").is_file()
