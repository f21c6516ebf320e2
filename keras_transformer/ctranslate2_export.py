"""Export to CTranslate2: a trained translator as a CTranslate2 model.

CTranslate2 (OpenNMT's C++ inference engine for Transformers) converts
OpenNMT, fairseq, Marian and Hugging Face models; this module converts ours,
through CTranslate2's own converter base class and `TransformerSpec`. The
model directory it writes holds:

    model.bin                       weights (float32, or `quantization`)
    config.json                     CTranslate2's configuration
    shared_vocabulary.json          the SentencePiece pieces (or
                                    source_/target_vocabulary.json)
    source_tokenizer.model          the translator's SentencePiece model(s)
    target_tokenizer.model          (separate vocabularies only)
    translation_options.json        keyword arguments of translate_batch

The model is mapped exactly: post-LN or pre-LN blocks (with the stacks'
final layer norms), the √d_model embedding scale, tied or separate
embeddings and output projection, and the positions (sinusoidal encodings,
interleaved as in the paper, are written as a table, as learned ones are).
What CTranslate2 cannot express is an error: a query/key size other than
`hidden_dim / num_heads`, or an activation it lacks. A quantized translator
is exported from its float weights: quantize in CTranslate2 instead
(`quantization="int8"`).

`translation_options.json` holds the `translate_batch` arguments that run
this translator's search (`"translate_batch"`), and whether CTranslate2 then
translates exactly as the `Translator` does (`"same_translations"`, with the
reasons when not). It does for greedy search, for beam search with length
penalty 0, and for beam search with `length_normalization="power"` and
`early_stopping=True` (CTranslate2's own rules), up to three edges:

- Length limits: outputs here end by `max_length_ratio` x source tokens +
  `max_length_offset` (and `max_output_length`); CTranslate2 has the one
  limit `max_decoding_length`, and cuts a hypothesis there where this
  search ends it with the end token. Outputs that end before the limits are
  the same.
- CTranslate2 may generate the padding or start token, which this search
  never does (a trained model gives them no probability;
  `suppress_sequences=[["<pad>"], ["<s>"]]` forbids them there, but also
  renormalizes the scores).
- Scores agree to float32 rounding (about 1e-5).
"""

import json
import os

import numpy as np
from keras import ops

from keras_transformer.atomic import atomic_directory
from keras_transformer.special_tokens import END_ID, START_ID, UNKNOWN_ID
from keras_transformer.translator import (
    SOURCE_TOKENIZER_FILE,
    TARGET_TOKENIZER_FILE,
    Translator,
    check_saved_translator,
)

try:
    import ctranslate2
except ImportError as error:  # an optional dependency
    raise ImportError(
        "Exporting to CTranslate2 needs the ctranslate2 package: "
        "pip install 'keras-transformer[ctranslate2]'."
    ) from error

OPTIONS_FILE = "translation_options.json"
# CTranslate2's weight types (`ctranslate2.specs.model_spec.ACCEPTED_MODEL_TYPES`).
QUANTIZATIONS = (
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
_ACTIVATIONS = {
    "relu": ctranslate2.specs.Activation.RELU,
    "gelu": ctranslate2.specs.Activation.GELU,
    "silu": ctranslate2.specs.Activation.SWISH,
    "swish": ctranslate2.specs.Activation.SWISH,
    "tanh": ctranslate2.specs.Activation.Tanh,
    "sigmoid": ctranslate2.specs.Activation.Sigmoid,
}


def check_quantization(quantization):
    """Raises a `ValueError` unless `quantization` is None or one of
    CTranslate2's weight types."""
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Unknown CTranslate2 quantization {quantization!r}; choose one of "
            f"{', '.join(QUANTIZATIONS)}."
        )


def _array(variable):
    return np.asarray(ops.convert_to_numpy(variable), "float32")


def _check_convertible(model):
    """Raises a `ValueError` naming what CTranslate2 cannot run."""
    head_dim = model.hidden_dim // model.num_heads
    if model.key_dim not in (None, head_dim):
        raise ValueError(
            f"CTranslate2 needs queries, keys and values of one size per head; "
            f"this model has key_dim={model.key_dim} and values of "
            f"hidden_dim / num_heads = {head_dim}."
        )
    if model.activation not in _ACTIVATIONS:
        raise ValueError(
            f"CTranslate2 has no {model.activation!r} activation; it runs "
            f"{', '.join(sorted(_ACTIVATIONS))}."
        )
    if model.quantization is not None:
        raise ValueError(
            f"The translator is quantized ({model.quantization}); export the "
            "float translator and let CTranslate2 quantize it "
            "(--quantization int8)."
        )


def _dense(layer, name=None):
    """`(kernel, bias)` of a `Dense` layer, or of the one called `name`
    inside `layer` (found by its variables' paths); the bias may be None."""
    found = {}
    for variable in layer.weights:
        parent, _, kind = variable.path.rpartition("/")
        if name is None or parent.endswith(f"/{name}"):
            found[kind] = variable
    return found["kernel"], found.get("bias")


def _set_linear(spec, dense):
    kernel, bias = dense
    spec.weight = _array(kernel).T  # Keras (in, out); CTranslate2 (out, in)
    if bias is not None:
        spec.bias = _array(bias)


def _set_fused_linear(spec, denses):
    spec.weight = np.concatenate([_array(kernel).T for kernel, _ in denses])
    if all(bias is not None for _, bias in denses):
        spec.bias = np.concatenate([_array(bias) for _, bias in denses])


def _set_layer_norm(spec, layer_norm):
    spec.gamma = _array(layer_norm.gamma)
    spec.beta = _array(layer_norm.beta)


def _set_attention(spec, attention, self_attention):
    # CTranslate2 fuses the projections it runs together: queries, keys and
    # values in self-attention; keys and values in cross-attention.
    query, key, value = (
        _dense(attention.query_dense),
        _dense(attention.key_dense),
        _dense(attention.value_dense),
    )
    if self_attention:
        _set_fused_linear(spec.linear[0], [query, key, value])
    else:
        _set_linear(spec.linear[0], query)
        _set_fused_linear(spec.linear[1], [key, value])
    _set_linear(spec.linear[-1], _dense(attention.output_dense))


def _set_feed_forward(spec, feed_forward, layer_norm):
    _set_layer_norm(spec.layer_norm, layer_norm)
    _set_linear(spec.linear_0, _dense(feed_forward, "intermediate_dense"))
    _set_linear(spec.linear_1, _dense(feed_forward, "output_dense"))


def _set_stack(spec, embeddings_spec, stack, token_embedding, positions):
    """One side: its embedding, positions, blocks and (pre-LN) final norm."""
    embeddings_spec.weight = _array(token_embedding.embeddings)
    spec.position_encodings.encodings = positions
    for layer, block in zip(spec.layer, stack.blocks, strict=True):
        _set_attention(layer.self_attention, block.self_attention, True)
        _set_layer_norm(
            layer.self_attention.layer_norm, block.self_attention_layer_norm
        )
        if hasattr(block, "cross_attention"):
            _set_attention(layer.attention, block.cross_attention, False)
            _set_layer_norm(
                layer.attention.layer_norm, block.cross_attention_layer_norm
            )
        _set_feed_forward(layer.ffn, block.feed_forward, block.feed_forward_layer_norm)
    if stack.final_layer_norm is not None:
        _set_layer_norm(spec.layer_norm, stack.final_layer_norm)


def _position_table(model, encoding, length):
    if model.position_encoding == "learned":
        return _array(encoding.position_embeddings)
    return _array(encoding.compute_encoding(length, model.hidden_dim))


def transformer_spec(model, source_pieces, target_pieces, positions=1024):
    """A `ctranslate2.specs.TransformerSpec` of a `Transformer`.

    Args:
        model: the `Transformer`.
        source_pieces, target_pieces: the vocabularies, one token string per
            id (`SubwordTokenizer.pieces`); the special tokens are read at
            their ids.
        positions: the rows of a sinusoidal position table, the longest
            source or output CTranslate2 may then run (a learned table keeps
            its own length).
    """
    _check_convertible(model)
    spec = ctranslate2.specs.TransformerSpec.from_config(
        model.num_layers,
        model.num_heads,
        pre_norm=model.normalize_first,
        activation=_ACTIVATIONS[model.activation],
    )
    spec.config.layer_norm_epsilon = float(model.layer_norm_epsilon)

    _set_stack(
        spec.encoder,
        spec.encoder.embeddings[0],
        model.encoder,
        model.encoder_token_embedding,
        _position_table(model, model.encoder_position_encoding, positions),
    )
    decoder = spec.decoder
    embedding = model.decoder_token_embedding
    _set_stack(
        decoder,
        decoder.embeddings,
        model.decoder,
        embedding,
        _position_table(model, model.decoder_position_encoding, positions),
    )
    if embedding.tie_weights:
        decoder.projection.weight = _array(embedding.embeddings)
    else:
        decoder.projection.weight = _array(embedding.reverse_embeddings).T

    spec.register_source_vocabulary(source_pieces)
    spec.register_target_vocabulary(target_pieces)
    spec.config.unk_token = target_pieces[UNKNOWN_ID]
    spec.config.bos_token = target_pieces[START_ID]
    spec.config.eos_token = target_pieces[END_ID]
    spec.config.decoder_start_token = target_pieces[START_ID]
    return spec


def translation_options(translator):
    """The `ctranslate2.Translator.translate_batch` arguments that run
    `translator`'s search, and whether its translations are then the same.

    Returns:
        A dict: `translate_batch` (the arguments), `same_translations`
        (bool) and `differences` (why not, one line each).
    """
    settings = translator.settings
    greedy = settings.num_beams == 1
    alpha = settings.length_penalty
    options = {
        "beam_size": settings.num_beams,
        # Greedy scores are log probabilities here (CTranslate2 divides
        # them by length ** length_penalty).
        "length_penalty": 0.0 if greedy else alpha,
        "max_input_length": translator.source_length_limit,
        # At most max_output_length - 1 tokens before the end token (fewer
        # where learned positions end first), as here. CTranslate2 has no
        # limit by source length: see the module doc.
        "max_decoding_length": max(1, translator.generator.longest_output - 1),
        # An empty output is allowed here (CTranslate2's default minimum is 1).
        "min_decoding_length": 0,
        "return_scores": True,
    }
    differences = []
    if not greedy and alpha != 0:
        if settings.length_normalization != "power":
            differences.append(
                "beam scores: CTranslate2 divides log probabilities by "
                "length ** length_penalty, not by the GNMT penalty; set "
                "length_normalization='power' for the same translations"
            )
        if not settings.early_stopping:
            differences.append(
                "stopping: CTranslate2 ends a sentence once num_beams hypotheses "
                "have finished; set early_stopping=True for the same translations"
            )
    return {
        "translate_batch": options,
        "same_translations": not differences,
        "differences": differences,
    }


class TranslatorConverter(ctranslate2.converters.Converter):
    """CTranslate2's converter for a saved `Translator` directory (or a
    `Translator`): `convert(output_dir, quantization=...)` writes the model
    and its vocabularies (`export_ctranslate2` adds the tokenizers and the
    options)."""

    def __init__(self, translator):
        if not isinstance(translator, Translator):
            check_saved_translator(translator)
            translator = Translator.load(translator)
        self.translator = translator

    def _load(self):
        translator = self.translator
        settings = translator.settings
        # Sinusoidal positions as far as the translator (or the model's
        # learned table) goes.
        positions = max(
            translator.model.max_sequence_length,
            settings.max_source_length,
            settings.max_output_length,
        )
        return transformer_spec(
            translator.model,
            translator.source_tokenizer.pieces(),
            translator.output_tokenizer.pieces(),
            positions,
        )


def export_ctranslate2(
    translator, output_dir, quantization=None, force=False, **overrides
):
    """Writes `translator` (a `Translator` or a saved translator directory)
    as a CTranslate2 model directory, atomically.

    Args:
        translator: a `Translator`, or the directory `Translator.save` wrote.
        output_dir: the model directory to write.
        quantization: CTranslate2's weight type (`QUANTIZATIONS`), e.g.
            `"int8"`; `None` keeps float32.
        force: replace `output_dir` if it exists.
        **overrides: decoding settings for `translation_options.json`
            (e.g. `num_beams=1`) over the translator's.

    Returns:
        The options dict also written to `translation_options.json`
        (`translation_options`).
    """
    check_quantization(quantization)
    if os.path.exists(output_dir) and not force:
        raise FileExistsError(
            f"{output_dir} exists; choose another directory, or replace it "
            "(force=True, --force)."
        )
    if not isinstance(translator, Translator):
        check_saved_translator(translator)
        translator = Translator.load(translator, **overrides)
    elif overrides:
        translator = Translator(
            translator.model,
            translator.source_tokenizer,
            translator.target_tokenizer,
            translator.settings,
            **overrides,
        )
    converter = TranslatorConverter(translator)
    translator = converter.translator
    options = translation_options(translator)
    tokenizers = [(translator.source_tokenizer, SOURCE_TOKENIZER_FILE)]
    if translator.target_tokenizer is not None:
        tokenizers.append((translator.target_tokenizer, TARGET_TOKENIZER_FILE))
    with atomic_directory(output_dir) as temporary:
        converter.convert(temporary, quantization=quantization, force=True)
        for tokenizer, name in tokenizers:
            tokenizer.save(os.path.join(temporary, name))
        with open(os.path.join(temporary, OPTIONS_FILE), "w") as file:
            json.dump(options, file, indent=2)
    return options
