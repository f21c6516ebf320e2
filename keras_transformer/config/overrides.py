"""Config keys (`"train.epochs"`), overrides, JSON and `--help` text.

`apply_overrides` parses `--set KEY=VALUE` text, `config_from_dict` checks
JSON values, both with the one converter of `keras_transformer.typed_fields`
and the same messages; an unknown key names the closest ones.
"""

import dataclasses
import difflib
import json
from typing import NamedTuple

from keras_transformer.atomic import atomic_write_bytes
from keras_transformer.config.schema import ExperimentConfig
from keras_transformer.typed_fields import (
    Mismatch,
    convert,
    mismatch_message,
    type_name,
)


class FieldInfo(NamedTuple):
    """One configurable field, for `--help`."""

    key: str
    type: str
    default: object
    help: str


def config_keys():
    """{"name": (None, field), "model.num_layers": ("model", field), ...}."""
    keys = {}
    for top in dataclasses.fields(ExperimentConfig):
        if dataclasses.is_dataclass(top.type):
            for inner in dataclasses.fields(top.type):
                keys[f"{top.name}.{inner.name}"] = (top.name, inner)
        else:
            keys[top.name] = (None, top)
    return keys


SECTIONS = tuple(
    f.name
    for f in dataclasses.fields(ExperimentConfig)
    if dataclasses.is_dataclass(f.type)
)


def get(config, key):
    """The value of a key (`"train.epochs"`) in a config."""
    for part in key.split("."):
        config = getattr(config, part)
    return config


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
    if key in SECTIONS:
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
    if section not in SECTIONS:
        top_level = ", ".join(repr(k) for k in keys if "." not in k)
        return (
            f"{message} Keys are SECTION.FIELD with SECTION one of "
            f"{', '.join(SECTIONS)}, or the top-level {top_level}."
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
    keys = config_keys()
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
            value = convert(text, field.type, from_text=True)
        except Mismatch:
            raise ValueError(mismatch_message(key, field.type, text)) from None
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
    keys = config_keys()
    changes = {}
    for name, value in data.items():
        if name in SECTIONS:
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
            if key not in keys or key in SECTIONS:
                raise ValueError(_unknown_key_message(key, where, keys))
            section, field = keys[key]
            try:
                item = convert(item, field.type)
            except Mismatch:
                raise ValueError(mismatch_message(key, field.type, item)) from None
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
        FieldInfo(key, type_name(field.type), get(config, key), field.metadata["help"])
        for key, (_, field) in config_keys().items()
    ]
