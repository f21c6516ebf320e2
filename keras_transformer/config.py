"""Run configuration: frozen dataclasses, overrides, JSON, validation.

An `ExperimentConfig` holds a `ModelConfig` (the `Transformer`'s keyword
arguments), a `DataConfig` (corpus, tokenizer, batching), a `TrainConfig`
(schedule, precision, evaluation, checkpoints) and a `DecodeConfig` (beam
search). Every field carries a one-line help text in its metadata (fairseq's
`metadata={"help": ...}`), which `describe_fields` hands to the CLI's `--help`.
`ModelConfig` fields left unset (`None`) take the value of `model.preset`, or
else the `Transformer` default (the paper's base model).

Recipes (`keras_transformer/recipes/*.py`) build configs with
`dataclasses.replace`; a run adjusts one with `apply_overrides(config,
["train.epochs=3"])` (the CLI's `--set`), whose values are parsed by the
field's declared type. Unknown keys, wrong types and values outside a
`Literal`'s choices raise `ValueError` naming the key. `validate` rejects
impossible combinations.

Example:

>>> config = apply_overrides(ExperimentConfig(), ["model.preset=transformer_tiny"])
>>> config.model.model_kwargs(vocabulary_size=1000)["hidden_dim"]
128
"""

import dataclasses
import difflib
import inspect
import json
import math
import re
import types
import typing
from typing import Literal, NamedTuple

import keras

from keras_transformer.atomic import atomic_write_bytes
from keras_transformer.models.presets import PRESETS
from keras_transformer.models.transformer import Transformer

PresetName = Literal[tuple(sorted(PRESETS))]

_TRANSFORMER_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(Transformer.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _field(default, help, factory=None, **bounds):
    """A field with its help text and optional bounds for `validate`:
    `minimum` (inclusive), `above` and `below` (exclusive)."""
    metadata = {"help": help, **bounds}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _model_field(name, help, **bounds):
    """An architecture field: unset (None) takes the preset's value, or else
    the `Transformer` default, which the help text shows."""
    default = _TRANSFORMER_DEFAULTS[name]
    return _field(None, f"{help}; unset: the preset's, else {default!r}", **bounds)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The architecture, as `Transformer` keyword arguments.

    A field left unset (`None`) takes the value of `preset`, or else the
    `Transformer` default, which is the paper's base model (Table 3).
    Vocabulary sizes come from the trained tokenizer, not from here.
    """

    preset: PresetName | None = _field(
        None, "architecture preset to start from; fields set here override it"
    )
    num_layers: int | None = _model_field(
        "num_layers", "blocks in each of the encoder and decoder stacks (N)", minimum=1
    )
    num_heads: int | None = _model_field("num_heads", "attention heads (h)", minimum=1)
    hidden_dim: int | None = _model_field(
        "hidden_dim", "model width (d_model)", minimum=1
    )
    intermediate_dim: int | None = _model_field(
        "intermediate_dim", "feed-forward inner width (d_ff)", minimum=1
    )
    dropout: float | None = _model_field(
        "dropout", "residual and embedding dropout (P_drop)", minimum=0, below=1
    )
    attention_dropout: float | None = _model_field(
        "attention_dropout", "dropout on the attention weights", minimum=0, below=1
    )
    activation_dropout: float | None = _model_field(
        "activation_dropout", "dropout inside the feed-forward net", minimum=0, below=1
    )
    activation: str | None = _model_field(
        "activation", "feed-forward activation (a Keras activation name)"
    )
    tie_embeddings: bool | None = _model_field(
        "tie_embeddings", "tie the target embedding with the pre-softmax projection"
    )
    position_encoding: Literal["sinusoidal", "learned"] | None = _model_field(
        "position_encoding", "position encoding: the paper's sinusoids or learned"
    )
    max_sequence_length: int | None = _model_field(
        "max_sequence_length",
        "longest sequence a learned position table covers",
        minimum=1,
    )
    layer_norm_epsilon: float | None = _model_field(
        "layer_norm_epsilon", "epsilon of every layer normalization", above=0
    )
    normalize_first: bool | None = _model_field(
        "normalize_first", "pre-LN blocks instead of the paper's post-LN"
    )

    def model_kwargs(self, vocabulary_size=None, target_vocabulary_size=None):
        """The keyword arguments for `Transformer(**kwargs)`, every one resolved:
        `Transformer` defaults, then the preset's values, then the fields set
        here; plus the vocabulary sizes when given."""
        kwargs = {name: _TRANSFORMER_DEFAULTS[name] for name in _ARCHITECTURE}
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(
                    f"Unknown preset {self.preset!r} in model.preset; "
                    f"available: {', '.join(sorted(PRESETS))}."
                )
            kwargs.update(
                (name, value)
                for name, value in PRESETS[self.preset].items()
                if name not in ("vocabulary_size", "target_vocabulary_size")
            )
        for name in _ARCHITECTURE:
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        if vocabulary_size is not None:
            kwargs["vocabulary_size"] = vocabulary_size
        if target_vocabulary_size is not None:
            kwargs["target_vocabulary_size"] = target_vocabulary_size
        return kwargs


_ARCHITECTURE = tuple(f.name for f in dataclasses.fields(ModelConfig))[1:]


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The corpus, the subword vocabulary and the batches."""

    corpus: str = _field(
        "builtin",
        "'builtin' (generated EN-DE corpus) or a directory of train/valid/test "
        "splits (see data.readers.find_splits)",
    )
    source_language: str = _field("en", "source language: its files end in .<this>")
    target_language: str = _field("de", "target language: its files end in .<this>")
    vocabulary_size: int = _field(
        8000, "subword pieces per vocabulary, the 4 special tokens included", minimum=5
    )
    joint_vocabulary: bool = _field(
        True, "one vocabulary and embedding for both languages (§3.4, §5.1)"
    )
    tokenizer_type: Literal["unigram", "bpe"] = _field(
        "unigram", "SentencePiece model type (the paper used BPE)"
    )
    lowercase: bool = _field(False, "lowercase all text before tokenizing")
    max_length: int = _field(
        128,
        "longest sequence in tokens (a target with its start/end token)",
        minimum=2,
    )
    long_pairs: Literal["drop", "truncate"] = _field(
        "drop", "what to do with pairs longer than max_length"
    )
    token_budget: int = _field(
        4096,
        "padded tokens per batch (batch size x bucket length), like fairseq's "
        "--max-tokens",
        minimum=1,
    )
    shuffle_buffer: int = _field(100_000, "pairs held for shuffling", minimum=1)
    builtin_train_size: int = _field(
        20000, "training pairs of the built-in corpus", minimum=1
    )
    builtin_valid_size: int = _field(
        500, "validation pairs of the built-in corpus", minimum=0
    )
    builtin_test_size: int = _field(500, "test pairs of the built-in corpus", minimum=0)
    seed: int = _field(
        0, "seed of the built-in corpus and of the data shuffling", minimum=0
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization, precision, evaluation and checkpoints.

    The optimizer is the paper's Adam (β1=0.9, β2=0.98, ε=1e-9, §5.3), not
    configurable; its learning rate follows the paper's schedule.
    """

    epochs: int = _field(
        10, "passes over the training data (max_steps may stop sooner)", minimum=1
    )
    max_steps: int | None = _field(
        None,
        "stop after this many optimizer updates (the paper's steps); none: no cap",
        minimum=1,
    )
    warmup_steps: int = _field(
        4000,
        "steps of linear learning-rate warmup, then decay as step^-0.5 (§5.3)",
        minimum=1,
    )
    learning_rate_scale: float = _field(
        1.0,
        "factor on the paper's rate d_model^-0.5*min(step^-0.5, step*warmup^-1.5); "
        "Adam β1=0.9, β2=0.98, ε=1e-9 are fixed",
        above=0,
    )
    label_smoothing: float = _field(
        0.1, "label smoothing ε_ls (§5.4: 0.1)", minimum=0, below=1
    )
    gradient_accumulation_steps: int | None = _field(
        None,
        "batches summed per optimizer update; none: update every batch",
        minimum=2,
    )
    clipnorm: float | None = _field(
        None,
        "clip each gradient to this norm; none: no clipping (as the paper)",
        above=0,
    )
    mixed_precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = _field(
        "float32", "Keras dtype policy: compute in 16 bits, keep float32 weights"
    )
    jit_compile: bool | Literal["auto"] = _field(
        "auto", "XLA-compile the train step (Keras' compile(jit_compile=...))"
    )
    eval_every_epochs: int = _field(
        1, "BLEU and chrF on the validation set every N epochs; 0: never", minimum=0
    )
    eval_max_sentences: int | None = _field(
        500, "validation sentences translated for BLEU/chrF; none: all", minimum=1
    )
    attention_monitor_every_epochs: int = _field(
        0,
        "per-head attention entropy/share on 32 validation pairs, logged, with a "
        "warning when heads collapse, every N epochs; 0: off",
        minimum=0,
    )
    backup_every_steps: int | Literal["epoch"] = _field(
        "epoch",
        "back up (to resume, and for averaging) every N batches, or 'epoch'",
        minimum=1,
    )
    keep_checkpoints: int = _field(
        1, "latest checkpoints kept (at least average_last)", minimum=1
    )
    average_last: int = _field(
        0,
        "average the last N checkpoints' weights at the end (§6.1); 0: off",
        minimum=0,
    )
    seed: int = _field(0, "seed of the weight initialization and dropout", minimum=0)
    devices: int | Literal["auto"] = _field(
        "auto",
        "accelerators to train on: 'auto' (all visible; under torchrun, its "
        "processes) or a count; the global batch stays data.token_budget",
        minimum=1,
    )
    model_parallel: int = _field(
        1,
        "devices each large weight is sharded over (JAX ModelParallel); the "
        "rest of train.devices split the batch; 1: data parallel only",
        minimum=1,
    )


@dataclasses.dataclass(frozen=True)
class DecodeConfig:
    """Beam search for evaluation and translation (§6.1)."""

    num_beams: int = _field(4, "beam width; 1: greedy search (§6.1: 4)", minimum=1)
    length_penalty: float = _field(
        0.6, "GNMT length penalty α (§6.1: 0.6); 0: none", minimum=0
    )
    max_length_ratio: float = _field(
        1.0,
        "outputs end by ratio x source tokens + offset (§6.1: input + 50)",
        minimum=0,
    )
    max_length_offset: int = _field(
        50, "added to ratio x source tokens (§6.1: 50)", minimum=0
    )
    max_output_length: int = _field(256, "hard cap on output tokens", minimum=1)
    max_source_length: int = _field(
        256, "longer sources are truncated, with a warning", minimum=1
    )
    batch_size: int = _field(64, "sentences per beam search", minimum=1)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole run: its name and the four sections."""

    name: str = _field("experiment", "run name (names its work directory)")
    model: ModelConfig = _field(None, "the architecture", ModelConfig)
    data: DataConfig = _field(None, "corpus, vocabulary and batching", DataConfig)
    train: TrainConfig = _field(None, "optimization and checkpoints", TrainConfig)
    decode: DecodeConfig = _field(None, "beam search", DecodeConfig)


# ------------------------------------------------------------- field access


class FieldInfo(NamedTuple):
    """One configurable field, for `--help`."""

    key: str
    type: str
    default: object
    help: str


def _keys():
    """{"name": (None, field), "model.num_layers": ("model", field), ...}."""
    keys = {}
    for top in dataclasses.fields(ExperimentConfig):
        if dataclasses.is_dataclass(top.type):
            for inner in dataclasses.fields(top.type):
                keys[f"{top.name}.{inner.name}"] = (top.name, inner)
        else:
            keys[top.name] = (None, top)
    return keys


_SECTIONS = tuple(
    f.name
    for f in dataclasses.fields(ExperimentConfig)
    if dataclasses.is_dataclass(f.type)
)


def _get(config, key):
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _members(annotation):
    """The member types of a union (None last), or the type alone."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    return sorted(members, key=lambda member: member is type(None))


def _type_name(annotation):
    """The type as `--help` shows it: "int or None", "bool or 'auto'",
    "one of 'drop', 'truncate'"."""
    names = []
    for member in _members(annotation):
        if typing.get_origin(member) is Literal:
            choices = typing.get_args(member)
            listed = ", ".join(repr(choice) for choice in choices)
            names.append(f"one of {listed}" if len(choices) > 1 else listed)
        else:
            names.append("None" if member is type(None) else member.__name__)
    return " or ".join(names)


class _Mismatch(Exception):
    """A value that fits none of a field's types."""


def _parse_text(text, annotation):
    """Parses command-line text as the field type, trying None, choices,
    bool, int, float and str in that order."""
    members = _members(annotation)
    order = (type(None), Literal, bool, int, float, str)
    members = sorted(members, key=lambda m: order.index(typing.get_origin(m) or m))
    lowered = text.lower()
    for member in members:
        if member is type(None) and lowered in ("none", "null"):
            return None
        if typing.get_origin(member) is Literal and text in typing.get_args(member):
            return text
        if member is bool and lowered in ("true", "1", "false", "0"):
            return lowered in ("true", "1")
        if member is int and re.fullmatch(r"[+-]?\d[\d_]*", text):
            return int(text)
        if member is float:
            try:
                value = float(text)
            except ValueError:
                continue
            if math.isfinite(value):
                return value
        if member is str:
            return text
    raise _Mismatch


def _check_value(value, annotation):
    """Returns a Python value (from JSON or code) that fits the field type,
    ints widened to float for float fields; raises `_Mismatch` otherwise."""
    for member in _members(annotation):
        if member is type(None) and value is None:
            return None
        if typing.get_origin(member) is Literal:
            if isinstance(value, str) and value in typing.get_args(member):
                return value
        elif member is bool and isinstance(value, bool):
            return value
        elif member is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        elif member is float and isinstance(value, (int, float)):
            if not isinstance(value, bool) and math.isfinite(value):
                return float(value)
        elif member is str and isinstance(value, str):
            return value
    raise _Mismatch


def _mismatch_message(key, annotation, found):
    expected = _type_name(annotation)
    if all(
        typing.get_origin(m) is Literal or m is type(None) for m in _members(annotation)
    ):
        return f"Invalid value for {key}: expected {expected}, found {found!r}"
    return f"Wrong type for {key}: expected {expected}, found {found!r}"


def _suggestions(key, keys):
    """Keys the user probably meant: the same field name in another section,
    else the closest key, else the closest field name."""
    leaf = key.rpartition(".")[2]
    same_leaf = [k for k in keys if k.rpartition(".")[2] == leaf]
    if same_leaf:
        return same_leaf
    close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
    if close:
        return close
    leaves = {k.rpartition(".")[2] for k in keys}
    close = difflib.get_close_matches(leaf, leaves, n=1, cutoff=0.6)
    return [k for k in keys if close and k.rpartition(".")[2] == close[0]]


def _unknown_key_message(key, where, keys):
    section = key.partition(".")[0]
    if key in _SECTIONS:
        example = next(k for k in keys if k.startswith(f"{key}."))
        return (
            f"{key!r}{where} is a section, not a key: set one of its keys, "
            f"e.g. {example}=..."
        )
    suggestions = _suggestions(key, keys)
    message = f"Unknown key {key!r}{where}"
    if suggestions:
        message += f"; did you mean {' or '.join(map(repr, suggestions))}?"
    else:
        message += "."
    if section not in _SECTIONS:
        top_level = ", ".join(repr(k) for k in keys if "." not in k)
        return (
            f"{message} Keys are SECTION.FIELD with SECTION one of "
            f"{', '.join(_SECTIONS)}, or the top-level {top_level}."
        )
    valid = [k for k in keys if k.startswith(f"{section}.")]
    return f"{message} Valid keys: {', '.join(valid)}"


def _replace(config, changes):
    """`changes` maps a section (None for top-level fields) to {field: value}."""
    sections = {
        section: dataclasses.replace(getattr(config, section), **values)
        for section, values in changes.items()
        if section is not None
    }
    return dataclasses.replace(config, **changes.get(None, {}), **sections)


# ------------------------------------------------------------------- public


def apply_overrides(config, overrides):
    """Returns `config` with `KEY=VALUE` overrides applied (the CLI's `--set`).

    Values are parsed by the field's type: ints, floats, bools
    (`true/false/1/0`), strings, `none` for optional fields, and a `Literal`'s
    choices. A later override of the same key wins. The result is not
    validated (call `validate` once all overrides are in).

    Raises:
        ValueError: an override that is not `KEY=VALUE`, an unknown key (with
            the closest keys), or a value of the wrong type or choice.
    """
    keys = _keys()
    changes = {}
    for override in overrides:
        key, separator, text = override.partition("=")
        key, text = key.strip(), text.strip()
        if not separator or not key:
            raise ValueError(
                f"Override {override!r} is not KEY=VALUE, e.g. train.epochs=3."
            )
        if key not in keys:
            raise ValueError(_unknown_key_message(key, f" in --set {override}", keys))
        section, field = keys[key]
        try:
            value = _parse_text(text, field.type)
        except _Mismatch:
            raise ValueError(_mismatch_message(key, field.type, text)) from None
        changes.setdefault(section, {})[field.name] = value
    return _replace(config, changes)


def config_to_dict(config):
    """The config as nested plain dicts, ready for JSON."""
    return dataclasses.asdict(config)


def config_from_dict(data, where=" in the config"):
    """Builds an `ExperimentConfig` from `config_to_dict`'s output.

    Keys left out take their defaults (configs written before a field was
    added still load). Unknown keys and values of the wrong type raise
    `ValueError` naming the key; `where` says where the dict came from.
    """
    if not isinstance(data, dict):
        raise ValueError(f"A config must be a JSON object; found {data!r}{where}.")
    keys = _keys()
    changes = {}
    for name, value in data.items():
        if name in _SECTIONS:
            if not isinstance(value, dict):
                raise ValueError(
                    f"{name!r}{where} must be an object of keys, found {value!r}."
                )
            items = [
                (f"{name}.{inner}", inner_value) for inner, inner_value in value.items()
            ]
        else:
            items = [(name, value)]
        for key, item in items:
            if key not in keys or key in _SECTIONS:
                raise ValueError(_unknown_key_message(key, where, keys))
            section, field = keys[key]
            try:
                item = _check_value(item, field.type)
            except _Mismatch:
                raise ValueError(_mismatch_message(key, field.type, item)) from None
            changes.setdefault(section, {})[field.name] = item
    return _replace(ExperimentConfig(), changes)


def save_config(config, path):
    """Writes the config to `path` as JSON, atomically."""
    text = json.dumps(config_to_dict(config), indent=2, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def load_config(path):
    """Reads a config written by `save_config`."""
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        raise FileNotFoundError(f"No config file at {path}.") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}.") from None
    return config_from_dict(data, where=f" in {path}")


def describe_fields(config=None):
    """Every configurable field as `FieldInfo(key, type, default, help)`,
    `default` being its value in `config` (default: `ExperimentConfig()`)."""
    config = config or ExperimentConfig()
    return [
        FieldInfo(
            key, _type_name(field.type), _get(config, key), field.metadata["help"]
        )
        for key, (_, field) in _keys().items()
    ]


def validate(config):
    """Checks types, ranges and combinations; returns `config` if it is sound.

    Model fields are checked as resolved (preset and defaults applied).

    Raises:
        ValueError: listing every problem, each naming its key.
    """
    keys = _keys()
    problems = []
    for key, (_, field) in keys.items():
        try:
            _check_value(_get(config, key), field.type)
        except _Mismatch:
            problems.append(_mismatch_message(key, field.type, _get(config, key)))
    if not problems:
        model = config.model.model_kwargs()
        for key, (section, field) in keys.items():
            value = _get(config, key)
            if section == "model" and field.name in model:
                value = model[field.name]
            problems += _bound_problems(key, value, field.metadata)
        problems += _model_combination_problems(config, model)
        problems += _run_combination_problems(config)
    if problems:
        raise ValueError("Invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


def _bound_problems(key, value, bounds):
    if value is None or isinstance(value, (str, bool)):
        return []
    if "minimum" in bounds and value < bounds["minimum"]:
        return [f"{key} must be at least {bounds['minimum']}, found {value!r}"]
    if "above" in bounds and value <= bounds["above"]:
        return [f"{key} must be greater than {bounds['above']}, found {value!r}"]
    if "below" in bounds and value >= bounds["below"]:
        return [f"{key} must be less than {bounds['below']}, found {value!r}"]
    return []


def _model_combination_problems(config, model):
    problems = []
    if model["num_heads"] >= 1 and model["hidden_dim"] % model["num_heads"]:
        problems.append(
            f"model.hidden_dim ({model['hidden_dim']}) must be divisible by "
            f"model.num_heads ({model['num_heads']}): each head gets "
            "hidden_dim / num_heads dimensions"
        )
    try:
        keras.activations.get(model["activation"])
    except ValueError:
        problems.append(
            f"model.activation {model['activation']!r} is not a Keras activation"
        )
    if model["position_encoding"] == "learned":
        for key in ("data.max_length", "decode.max_source_length"):
            if _get(config, key) > model["max_sequence_length"]:
                problems.append(
                    f"{key} ({_get(config, key)}) exceeds model.max_sequence_length "
                    f"({model['max_sequence_length']}), the longest sequence "
                    "learned positions cover: raise it or lower the length"
                )
        if config.decode.max_output_length > model["max_sequence_length"]:
            problems.append(
                f"decode.max_output_length ({config.decode.max_output_length}) "
                f"exceeds model.max_sequence_length ({model['max_sequence_length']}), "
                "the longest sequence learned positions cover"
            )
    return problems


def _run_combination_problems(config):
    data, train, decode = config.data, config.train, config.decode
    problems = []
    if not re.fullmatch(r"[\w.-]+", config.name) or config.name in (".", ".."):
        problems.append(
            f"name {config.name!r} must be a plain directory name: letters, "
            "digits, '.', '_' and '-'"
        )
    for key in ("data.corpus", "data.source_language", "data.target_language"):
        if not _get(config, key).strip():
            problems.append(f"{key} must not be empty")
    if data.source_language == data.target_language:
        problems.append(
            "data.source_language and data.target_language are both "
            f"{data.source_language!r}"
        )
    if data.corpus == "builtin" and (data.source_language, data.target_language) != (
        "en",
        "de",
    ):
        problems.append(
            "the built-in corpus is English→German: set data.source_language=en "
            "and data.target_language=de, or set data.corpus to a directory"
        )
    if train.average_last > train.keep_checkpoints:
        problems.append(
            f"train.average_last ({train.average_last}) exceeds "
            f"train.keep_checkpoints ({train.keep_checkpoints}): keep at least as "
            "many checkpoints as are averaged"
        )
    if train.model_parallel > 1:
        model = config.model.model_kwargs()
        for key in ("hidden_dim", "intermediate_dim"):
            if model[key] % train.model_parallel:
                problems.append(
                    f"model.{key} ({model[key]}) must be divisible by "
                    f"train.model_parallel ({train.model_parallel}), the devices "
                    "it is sharded over"
                )
        if train.devices != "auto" and train.devices % train.model_parallel:
            problems.append(
                f"train.devices ({train.devices}) must be a multiple of "
                f"train.model_parallel ({train.model_parallel})"
            )
    if decode.max_length_ratio == 0 and decode.max_length_offset == 0:
        problems.append(
            "decode.max_length_ratio and decode.max_length_offset are both 0: "
            "every output would be empty"
        )
    return problems
