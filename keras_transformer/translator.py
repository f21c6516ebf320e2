"""Strings in, strings out: tokenize, search, detokenize, in batches.

A `Translator` is a trained `Transformer`, its tokenizer(s) and the decoding
settings. `save` writes all of it to one directory and `Translator.load`
reads it back on any backend, so a trained model translates raw strings with
nothing else at hand:

    <directory>/
        translator.json         decoding settings, file names, format version
        model.keras             the Transformer (architecture and weights,
                                int8 ones if it was quantized)
        source_tokenizer.model  SentencePiece model
        target_tokenizer.model  only when the vocabularies are separate

The module imports no TensorFlow until a translator is loaded (the tokenizers
run on it), so `search_in_batches` serves a machine without it too.
"""

import dataclasses
import json
import os
import warnings
import zipfile

import keras
import numpy as np

from keras_transformer.atomic import atomic_directory
from keras_transformer.decoding import Generator, TranslationSettings
from keras_transformer.special_tokens import PAD_ID
from keras_transformer.weights_file import WEIGHTS_SUFFIX, read_weights_layout

FORMAT_VERSION = 1
CONFIG_FILE = "translator.json"
MODEL_FILE = "model.keras"
SOURCE_TOKENIZER_FILE = "source_tokenizer.model"
TARGET_TOKENIZER_FILE = "target_tokenizer.model"
# The decoding settings, readable as attributes (translator.num_beams).
SETTING_NAMES = tuple(field.name for field in dataclasses.fields(TranslationSettings))
# The modes of `Translator.quantize` (Keras' `Model.quantize`).
QUANTIZATION_MODES = ("int8",)
# Sources are padded to a multiple of this many tokens, and batches to a power
# of two, so a compiled search sees few distinct shapes.
SOURCE_LENGTH_STEP = 8


class Translator:
    """Translates batches of strings with a trained `Transformer`.

    Sources longer than `max_source_length` tokens are truncated to it, with
    a warning that counts them. An empty string translates to an empty
    string. Characters the tokenizer never saw become unknown tokens; they
    never raise.

    Args:
        model: a trained `keras_transformer.models.Transformer`.
        source_tokenizer: a `SubwordTokenizer` for the source language.
        target_tokenizer: one for the target language; `None` when the
            vocabulary is joint (the source tokenizer is used).
        settings: `TranslationSettings`: the search's (beam width, length
            penalty, output limits; the paper's by default), the longest
            source (longer ones are truncated) and the sentences per search.
        jit_compile, drop_finished: passed to the `Generator`
            (`drop_finished=True` drops finished sentences from every batch,
            `False` from none; `"auto"` once a batch shape recurs).
        quantize: `"int8"` quantizes the model's weights for inference
            (`quantize`); `None` keeps them as they are.
        **overrides: fields of `TranslationSettings` (`num_beams=1`, ...)
            that replace those of `settings`.

    The settings read as attributes too: `translator.num_beams`.

    Example:

    >>> translator = Translator.load("runs/builtin/translator")
    >>> translator.translate(["three hundred twenty-one"])
    ['dreihunderteinundzwanzig']
    """

    def __init__(
        self,
        model,
        source_tokenizer,
        target_tokenizer=None,
        settings=None,
        jit_compile="auto",
        quantize=None,
        drop_finished="auto",
        **overrides,
    ):
        self.settings = TranslationSettings.build(settings, **overrides)
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self._generator_options = {
            "jit_compile": jit_compile,
            "drop_finished": drop_finished,
        }
        if quantize is not None:
            self._quantize_model(quantize)
        self.generator = Generator(model, self.settings, **self._generator_options)

    def __getattr__(self, name):
        if name in SETTING_NAMES and "settings" in self.__dict__:
            return getattr(self.settings, name)
        raise AttributeError(f"'Translator' object has no attribute {name!r}")

    @property
    def output_tokenizer(self):
        return self.target_tokenizer or self.source_tokenizer

    def decoding_settings(self):
        """The settings as a dict (what translator.json stores)."""
        return dataclasses.asdict(self.settings)

    # === Quantization ===

    @property
    def quantization(self):
        """`"int8"` when the model's weights are quantized, else `None`."""
        return self.model.quantization

    def quantize(self, mode="int8"):
        """Quantizes the model's weights in place for faster inference.

        `"int8"` is Keras' int8 quantization (`Transformer.quantize`): every
        Dense kernel and the token embedding(s) become int8 with one scale
        per output channel (per token for the embedding), and the inputs of
        each matrix product are quantized on the fly; layer norms, biases
        and positions stay in float. A translator already in `mode` is left
        as it is. `save` keeps the quantized weights.

        Returns:
            The translator.
        """
        if self._quantize_model(mode):
            # The compiled search holds the float weights: build it again.
            self.generator = Generator(
                self.model, self.settings, **self._generator_options
            )
        return self

    def _quantize_model(self, mode):
        """Quantizes the model in `mode`; False if it already was."""
        if mode not in QUANTIZATION_MODES:
            raise ValueError(
                f"Unknown quantization {mode!r}; the modes are "
                f"{', '.join(map(repr, QUANTIZATION_MODES))}."
            )
        current = self.model.quantization
        if current == mode:
            return False
        if current is not None:
            raise ValueError(
                f"The model is already quantized ({current}); quantize the "
                "float translator instead."
            )
        self.model.quantize(mode)
        return True

    # === Translation ===

    @property
    def source_length_limit(self):
        """Longer sources are truncated: `max_source_length`, or the model's
        `max_sequence_length` when its learned positions end first."""
        limit = self.max_source_length
        if self.generator.longest_source is not None:
            limit = min(limit, self.generator.longest_source)
        return limit

    def encode_sources(self, texts):
        """Tokenizes source strings, truncating long ones (with a warning).

        Returns a list of int32 arrays.
        """
        ids = self.source_tokenizer.tokenize(list(texts))
        limit = self.source_length_limit
        too_long = sum(len(row) > limit for row in ids)
        if too_long:
            reason = "max_source_length; raise it to translate them whole"
            if limit < self.max_source_length:
                reason = (
                    "the model's max_sequence_length, the last position its "
                    "learned position table covers"
                )
            warnings.warn(
                f"Truncated {too_long} of {len(ids)} source sentences to "
                f"{limit} tokens ({reason}).",
                stacklevel=3,
            )
        return [row[:limit] for row in ids]

    def search(self, source_ids, verbose=False):
        """Searches tokenized sources in batches, longest first.

        Args:
            source_ids: list of int arrays (no padding).
            verbose: show a progress bar.

        Returns:
            `(token_ids, scores)`: per source, an int array
            `(num_best, length)` and float array `(num_best,)`, best first.
        """
        return search_in_batches(
            self.generator, source_ids, self.settings.batch_size, verbose=verbose
        )

    def translate(self, texts, verbose=False):
        """Translates a string or a list of strings.

        Returns a string for a string, a list of strings for a list.

        Raises:
            TypeError: bytes, or an item that is not a string (naming it).
            ValueError: a string that is not valid Unicode text (a lone
                surrogate), naming the item and the character.
        """
        single, texts = _as_list(texts, "translate")
        if not texts:
            return []
        token_ids, _ = self.search(self.encode_sources(texts), verbose=verbose)
        translations = [self.output_tokenizer.detokenize(ids[0]) for ids in token_ids]
        return translations[0] if single else translations

    def translate_n_best(self, texts, verbose=False):
        """Translates a string or a list of strings, keeping every beam.

        Returns, per sentence, `num_beams` pairs `(translation, score)`, best
        first (the score is the log probability divided by the length
        penalty of `length_normalization`): that list for a string, a list of
        them for a list.
        """
        single, texts = _as_list(texts, "translate_n_best")
        if not texts:
            return []
        token_ids, scores = self.search(self.encode_sources(texts), verbose=verbose)
        tokenizer = self.output_tokenizer
        n_best = [
            [
                (tokenizer.detokenize(row), float(score))
                for row, score in zip(ids, sentence_scores, strict=True)
            ]
            for ids, sentence_scores in zip(token_ids, scores, strict=True)
        ]
        return n_best[0] if single else n_best

    # === Saving ===

    def save(self, directory):
        """Writes the model, tokenizer(s) and settings to `directory`,
        atomically (see `keras_transformer.atomic.atomic_directory`)."""
        config = {
            "format_version": FORMAT_VERSION,
            "model": MODEL_FILE,
            "source_tokenizer": SOURCE_TOKENIZER_FILE,
            "target_tokenizer": (
                TARGET_TOKENIZER_FILE if self.target_tokenizer is not None else None
            ),
            "decoding": self.decoding_settings(),
            "quantization": self.quantization,
            "saved_by_backend": keras.backend.backend(),
        }
        with atomic_directory(directory) as temporary:
            self.model.save(os.path.join(temporary, MODEL_FILE))
            self.source_tokenizer.save(os.path.join(temporary, SOURCE_TOKENIZER_FILE))
            if self.target_tokenizer is not None:
                self.target_tokenizer.save(
                    os.path.join(temporary, TARGET_TOKENIZER_FILE)
                )
            with open(os.path.join(temporary, CONFIG_FILE), "w") as file:
                json.dump(config, file, indent=2)

    @classmethod
    def load(cls, directory, weights=None, quantize=None, **overrides):
        """Reads what `save` wrote; keyword arguments override the saved
        decoding settings (e.g. `num_beams=1`).

        `weights`: a `.weights.h5` file of the same model (a run's
        `checkpoints/best.weights.h5` or `step-*.weights.h5`) to load over
        the saved weights, keeping the translator's tokenizers and settings.
        `quantize`: `"int8"` quantizes the model once loaded (after
        `weights`), as `quantize` does.
        """
        from keras_transformer.data.tokenizer import SubwordTokenizer  # TensorFlow

        config = read_translator_config(directory)
        options = ["jit_compile", "drop_finished"]
        unknown = set(overrides) - set(SETTING_NAMES) - set(options)
        if unknown:
            raise TypeError(
                f"Unknown Translator settings {sorted(unknown)}; valid: "
                f"{list(SETTING_NAMES) + options}."
            )
        settings = TranslationSettings.from_dict(
            config["decoding"], f"the 'decoding' section of {config['path']}"
        )
        model = _load_model(os.path.join(directory, config["model"]))
        if weights is not None:
            if model.quantization is not None:
                raise ValueError(
                    f"The translator {directory} is quantized ({model.quantization}),"
                    f" so float weights such as {weights} cannot be loaded into "
                    "it. Load them into the float translator and quantize after "
                    "(--weights with --quantize)."
                )
            _load_checkpoint(model, weights, directory)
        source = SubwordTokenizer.load(
            os.path.join(directory, config["source_tokenizer"])
        )
        target = None
        if config.get("target_tokenizer"):
            target = SubwordTokenizer.load(
                os.path.join(directory, config["target_tokenizer"])
            )
        return cls(model, source, target, settings, quantize=quantize, **overrides)


def read_translator_config(directory):
    """Reads and checks `translator.json` of a saved translator; the dict
    it returns also holds the file's `path`."""
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{directory} is not a saved translator: it has no {CONFIG_FILE}. "
            "Pass the directory written by Translator.save (train() writes "
            "one to <workdir>/translator)."
        )
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}). Restore the file, or save "
            "the translator again."
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, found {config!r}.")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {version!r}; this version of "
            f"keras_transformer reads format {FORMAT_VERSION}."
        )
    for key, kind in (("model", str), ("source_tokenizer", str), ("decoding", dict)):
        if not isinstance(config.get(key), kind):
            found = "no such key" if key not in config else repr(config[key])
            raise ValueError(
                f"{path}: {key!r} must be a {'file name' if kind is str else 'object'}"
                f" ({found}). Restore the file, or save the translator again."
            )
    target = config.get("target_tokenizer")
    if target is not None and not isinstance(target, str):
        raise ValueError(f"{path}: 'target_tokenizer' must be a file name or null.")
    return {**config, "path": path}


def check_saved_translator(directory):
    """The cheap checks of `Translator.load`, without loading anything:
    `translator.json` and its settings, and the model and tokenizer files.
    Returns the checked config (with `path`)."""
    config = read_translator_config(directory)
    TranslationSettings.from_dict(
        config["decoding"], f"the 'decoding' section of {config['path']}"
    )
    _check_model_file(os.path.join(directory, config["model"]))
    for key in ("source_tokenizer", "target_tokenizer"):
        if config.get(key) and not os.path.isfile(os.path.join(directory, config[key])):
            raise FileNotFoundError(
                f"No tokenizer file {os.path.join(directory, config[key])}, which "
                f"{config['path']} names: the translator directory is incomplete. "
                "Save or train the translator again."
            )
    return config


def _check_model_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No model file {path}: the translator directory is incomplete. "
            "Save or train the translator again."
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a Keras model file: it is not a complete .keras "
            f"(zip) archive ({os.path.getsize(path)} bytes), so it was cut short "
            "or damaged. Save or train the translator again."
        )


def _load_model(path):
    """`keras.saving.load_model`, with errors that name the file."""
    _check_model_file(path)
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a bad archive.
        raise ValueError(
            f"Could not load the model in {path}: {error}. The file may be "
            "damaged, or written by an incompatible version: save the "
            "translator again."
        ) from error


def _load_checkpoint(model, path, directory):
    path = os.fspath(path)
    if not path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(
            f"{path} is not a weights file: expected a {WEIGHTS_SUFFIX} file "
            "such as <workdir>/checkpoints/best.weights.h5."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No weights file {path}. A run keeps its checkpoints in "
            "<workdir>/checkpoints/ (best.weights.h5, step-*.weights.h5)."
        )
    advice = "Pass a checkpoint of the run that saved this translator."
    # Keras loads a file of a deeper model into a shallower one without a
    # word (the extra layers are ignored), so the count is checked first;
    # training checkpoints also hold the optimizer's arrays, not counted.
    arrays = sum(
        not name.startswith("optimizer/") for name in read_weights_layout(path)
    )
    if arrays != len(model.weights):
        raise ValueError(
            f"The weights in {path} do not fit the model of the translator "
            f"{directory}: the file holds {arrays} arrays, the model has "
            f"{len(model.weights)} weights. {advice}"
        )
    try:
        model.load_weights(path)
    except ValueError as error:
        raise ValueError(
            f"The weights in {path} do not fit the model of the translator "
            f"{directory}: {error} {advice}"
        ) from error


def _as_list(texts, method):
    """`(single, texts)`: whether one string was given, and the strings as a
    list, each checked to be text."""
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError(
            f"{method}() takes a string or a list of strings, not bytes "
            f"({bytes(texts[:20])!r}): decode them first, e.g. "
            "data.decode('utf-8')."
        )
    if isinstance(texts, str):
        texts = [texts]
        single = True
    else:
        texts, single = list(texts), False
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            kind = type(text).__name__
            hint = " (decode it first)" if isinstance(text, bytes) else ""
            raise TypeError(
                f"{method}() takes strings; item {position} is of type {kind}{hint}: "
                f"{text!r:.80}."
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"{method}(): item {position} is not valid text: it holds the "
                f"lone surrogate {text[error.start]!r} at character "
                f"{error.start + 1}, which no encoding represents (it comes "
                "from text decoded with errors='surrogateescape' or split in "
                "the middle of a character); fix or drop that item."
            ) from None
    return single, texts


def _padded_batch_size(count, batch_size):
    padded = 1
    while padded < count:
        padded *= 2
    return min(padded, batch_size)


def search_in_batches(generator, source_ids, batch_size=64, verbose=False):
    """Searches tokenized sources with a `Generator`, in batches, longest first.

    Sources of similar length share a batch; each batch is padded to a
    multiple of 8 tokens (within a learned position table's length) and to a
    power-of-two number of rows (at most `batch_size`), so a compiled search
    sees few distinct shapes.

    Args:
        generator: a `Generator`.
        source_ids: list of int arrays (no padding).
        batch_size: sentences per search.
        verbose: show a progress bar.

    Returns:
        `(token_ids, scores)`: per source, an int array `(num_best, length)`
        and a float array `(num_best,)`, best first.
    """
    order = sorted(range(len(source_ids)), key=lambda i: -len(source_ids[i]))
    results = [None] * len(source_ids)
    progress = keras.utils.Progbar(len(source_ids), unit_name="sentence")
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        longest = max(1, max(len(source_ids[i]) for i in chosen))
        length = -(-longest // SOURCE_LENGTH_STEP) * SOURCE_LENGTH_STEP
        if generator.longest_source is not None:
            length = min(length, generator.longest_source)
        rows = _padded_batch_size(len(chosen), batch_size)
        batch = np.full((rows, length), PAD_ID, "int32")
        for row, index in enumerate(chosen):
            batch[row, : len(source_ids[index])] = source_ids[index]
        outputs = generator.generate(batch)
        for row, index in enumerate(chosen):
            results[index] = (outputs["token_ids"][row], outputs["scores"][row])
        if verbose:
            progress.add(len(chosen))
    return [r[0] for r in results], [r[1] for r in results]
