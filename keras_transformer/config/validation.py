"""`validate`: a config's types, ranges and impossible combinations."""

import re

import keras

from keras_transformer.config.overrides import config_keys, get
from keras_transformer.typed_fields import (
    Mismatch,
    bound_problems,
    convert,
    mismatch_message,
)


def validate(config):
    """Checks types, ranges and combinations; returns `config` if it is sound.

    Model fields are checked as resolved (preset and defaults applied); the
    `decode` section checks itself (`SearchSettings.problems`), as the
    `Translator` and `Generator` check the same settings.

    Raises:
        ValueError: listing every problem, each naming its key.
    """
    keys = {
        key: field
        for key, (section, field) in config_keys().items()
        if section != "decode"
    }
    problems = []
    for key, field in keys.items():
        try:
            convert(get(config, key), field.type)
        except Mismatch:
            problems.append(mismatch_message(key, field.type, get(config, key)))
    type_problems = bool(problems)
    problems += config.decode.problems(prefix="decode.")
    if not type_problems:
        model = config.model.model_kwargs()
        for key, field in keys.items():
            value = get(config, key)
            if key.startswith("model.") and field.name in model:
                value = model[field.name]
            problems += bound_problems(key, value, field.metadata)
        problems += _model_combination_problems(config, model)
        problems += _run_combination_problems(config)
    if problems:
        raise ValueError("Invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


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
            if get(config, key) > model["max_sequence_length"]:
                problems.append(
                    f"{key} ({get(config, key)}) exceeds model.max_sequence_length "
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
    data, train = config.data, config.train
    problems = []
    if not re.fullmatch(r"[\w.-]+", config.name) or config.name in (".", ".."):
        problems.append(
            f"name {config.name!r} must be a plain directory name: letters, "
            "digits, '.', '_' and '-'"
        )
    for key in ("data.corpus", "data.source_language", "data.target_language"):
        if not get(config, key).strip():
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
    return problems
