"""int8 inference: Keras' quantization of the Transformer's Dense layers and
token embeddings, through the model, the translator and the CLI."""

import json
import warnings

import keras
import numpy as np
import pytest
from keras import ops

from keras_transformer.cli import QUANTIZATION_MODES as CLI_MODES
from keras_transformer.cli import main as cli_main
from keras_transformer.decoding import Generator
from keras_transformer.layers.token_embedding import TokenEmbedding
from keras_transformer.translator import QUANTIZATION_MODES, Translator
from tests.tiny import decoding_fixture, fixture_model, tiny_transformer

SENTENCES = ["A dog runs in the park.", "", "two cats"]


def _numpy(x):
    return ops.convert_to_numpy(x)


def _inputs(vocabulary_size, seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(4, vocabulary_size, (3, 7)).astype("int32")
    source[0, 5:] = 0  # padding
    target = rng.integers(4, vocabulary_size, (3, 5)).astype("int32")
    return {"encoder_token_ids": source, "decoder_token_ids": target}


def test_token_embedding_keeps_its_scaling_once_quantized():
    embedding = TokenEmbedding(50, 16)
    ids = np.array([[4, 9, 17, 49]], "int32")
    hidden = np.random.default_rng(1).normal(size=(1, 4, 16)).astype("float32")
    lookup, logits = _numpy(embedding(ids)), _numpy(embedding(hidden, reverse=True))
    embedding.quantize("int8")
    assert embedding.quantization_mode == "int8"
    assert embedding.embeddings.dtype == "int8"
    quantized_lookup = _numpy(embedding(ids))
    quantized_logits = embedding(hidden, reverse=True)
    assert keras.backend.standardize_dtype(quantized_logits.dtype) == "float32"
    # int8 with a per-token scale: within half a step of 127 levels (the
    # lookup is scaled by √16 = 4 after dequantization, as before).
    step = np.abs(lookup).max(axis=-1, keepdims=True) / 127
    assert np.all(np.abs(quantized_lookup - lookup) <= step / 2 + 1e-6)
    np.testing.assert_allclose(
        _numpy(quantized_logits), logits, atol=0.05 * np.abs(logits).max()
    )


def test_model_quantizes_every_dense_layer_and_the_embedding_quietly():
    model = tiny_transformer(40, dropout=0.0)
    inputs = _inputs(40)
    expected = _numpy(model(inputs))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize("int8")
    # Keras warns of each layer it cannot quantize; none is offered to it.
    assert not [w for w in caught if "quantize" in str(w.message)]
    int8 = sorted(v.path for v in model.weights if v.dtype == "int8")
    # One block each side: 4 + 4 + 4 attention projections and 2 + 2
    # feed-forward kernels, and the one shared embedding.
    assert len(int8) == 17
    assert "token_embedding/embeddings" in int8
    assert model.quantization == "int8"
    logits = _numpy(model(inputs))
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, atol=0.05 * np.abs(expected).max())
    assert not np.array_equal(logits, expected)  # the int8 path did run


def test_untied_and_separate_vocabularies_quantize_too():
    model = tiny_transformer(
        30, target_vocabulary_size=20, tie_embeddings=False, dropout=0.0
    )
    inputs = _inputs(20)
    expected = _numpy(model(inputs))
    model.quantize("int8")
    paths = {v.path for v in model.weights if v.dtype == "int8"}
    assert {
        "encoder_token_embedding/embeddings",
        "decoder_token_embedding/embeddings",
        "decoder_token_embedding/reverse_embeddings",
    } <= paths
    np.testing.assert_allclose(
        _numpy(model(inputs)), expected, atol=0.05 * np.abs(expected).max()
    )


def test_quantized_model_saves_and_loads(tmp_path):
    model = tiny_transformer(40, dropout=0.0, normalize_first=True)
    model.quantize("int8")
    inputs = _inputs(40)
    config = model.get_config()
    assert config["dtype"]["class_name"] == "DTypePolicyMap"
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.quantization == "int8"
    assert [v.path for v in loaded.weights] == [v.path for v in model.weights]
    np.testing.assert_array_equal(_numpy(loaded(inputs)), _numpy(model(inputs)))


def test_quantized_search_keeps_the_trained_models_outputs():
    fixture = decoding_fixture()
    quantized = fixture_model(fixture)
    quantized.quantize("int8")
    for name, settings in json.loads(str(fixture["searches"])).items():
        generator = Generator(quantized, max_length_offset=2, **settings)
        outputs = generator.generate(fixture["sources"])
        # The best output is the float model's; lower-ranked hypotheses of
        # close scores may swap, and log probabilities move by int8 rounding
        # (up to 12% here).
        np.testing.assert_array_equal(
            outputs["token_ids"][:, 0], fixture[f"{name}/token_ids"][:, 0], name
        )
        np.testing.assert_allclose(
            outputs["scores"][:, 0],
            fixture[f"{name}/scores"][:, 0],
            rtol=0.15,
            err_msg=name,
        )


def _translator(tokenizer, **settings):
    keras.utils.set_random_seed(5)
    model = tiny_transformer(tokenizer.vocabulary_size, dropout=0.0)
    return Translator(model, tokenizer, num_beams=2, max_length_offset=4, **settings)


def test_translator_quantizes_saves_and_loads(tokenizer, tmp_path):
    translator = _translator(tokenizer)
    assert translator.quantization is None
    assert translator.quantize("int8") is translator
    assert translator.quantization == "int8"
    translator.quantize("int8")  # already int8: nothing to do
    translations = translator.translate(SENTENCES)
    translator.save(tmp_path / "translator")
    with open(tmp_path / "translator" / "translator.json") as file:
        assert json.load(file)["quantization"] == "int8"
    loaded = Translator.load(tmp_path / "translator")
    assert loaded.quantization == "int8"
    assert loaded.translate(SENTENCES) == translations
    with pytest.raises(ValueError, match="Unknown quantization 'int4'"):
        _translator(tokenizer).quantize("int4")


def test_translator_load_quantizes_after_loading_weights(tokenizer, tmp_path):
    translator = _translator(tokenizer)
    translator.save(tmp_path / "float")
    translator.model.save_weights(tmp_path / "best.weights.h5")
    loaded = Translator.load(
        tmp_path / "float", weights=tmp_path / "best.weights.h5", quantize="int8"
    )
    assert loaded.quantization == "int8"
    expected = _translator(tokenizer, quantize="int8").translate(SENTENCES)
    assert loaded.translate(SENTENCES) == expected

    loaded.save(tmp_path / "int8")
    with pytest.raises(ValueError, match="is quantized \\(int8\\), so float"):
        Translator.load(tmp_path / "int8", weights=tmp_path / "best.weights.h5")


def test_cli_quantize_option(tokenizer, tmp_path, capsys):
    assert CLI_MODES == QUANTIZATION_MODES
    _translator(tokenizer).save(tmp_path / "translator")
    expected = _translator(tokenizer, quantize="int8").translate(SENTENCES[:1])
    capsys.readouterr()
    cli_main(
        ["translate", str(tmp_path / "translator"), "--quantize", "int8"]
        + SENTENCES[:1]
    )
    assert capsys.readouterr().out.splitlines() == expected
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["translate", str(tmp_path / "translator"), "--quantize", "int4", "x"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="XLA is what --jit-compile adds on TensorFlow (JAX always compiles "
    "with it; on PyTorch it compiles the step for about a minute)",
)
def test_cli_jit_compile_searches_with_xla(tokenizer, tmp_path, capsys, monkeypatch):
    _translator(tokenizer).save(tmp_path / "translator")
    expected = _translator(tokenizer, quantize="int8").translate(SENTENCES[:2])
    loaded = []
    load = Translator.load

    def recording_load(*args, **kwargs):
        loaded.append((kwargs, load(*args, **kwargs)))
        return loaded[-1][1]

    monkeypatch.setattr(Translator, "load", recording_load)
    capsys.readouterr()
    cli_main(
        ["translate", str(tmp_path / "translator"), "--quantize", "int8"]
        + ["--jit-compile"]
        + SENTENCES[:2]
    )
    assert capsys.readouterr().out.splitlines() == expected
    assert loaded[-1][1].generator.jit_compile is True
    cli_main(["translate", str(tmp_path / "translator")] + SENTENCES[:1])
    assert loaded[-1][0]["jit_compile"] == "auto"  # Keras' choice


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the export runs here in-process; other backends start a TF process",
)
def test_quantized_translator_exports_a_saved_model(tokenizer, tmp_path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    from keras_transformer.export import export_saved_model

    translator = _translator(tokenizer, quantize="int8")
    translator.save(tmp_path / "translator")
    path = export_saved_model(tmp_path / "translator", tmp_path / "exports")
    served = tf.saved_model.load(path).signatures["serving_default"]
    outputs = served(tf.constant(SENTENCES))
    translations = [text.decode() for text in outputs["translations"].numpy()]
    assert translations == translator.translate(SENTENCES)
