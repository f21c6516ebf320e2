"""Run configuration: overrides, JSON, validation, help, and the recipes."""

import dataclasses
import inspect
import json
import os
import typing

import pytest

from keras_transformer import Transformer
from keras_transformer.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    describe_fields,
    load_config,
    save_config,
    validate,
)
from keras_transformer.models.presets import PRESETS
from keras_transformer.recipes import list_recipes, load_recipe

DEFAULT = ExperimentConfig()
TINY = [
    "model.num_layers=1",
    "model.num_heads=2",
    "model.hidden_dim=8",
    "model.intermediate_dim=16",
]


def _all_keys():
    """Every leaf key, enumerated independently of the module's helpers."""
    keys = []
    for top in dataclasses.fields(ExperimentConfig):
        if dataclasses.is_dataclass(top.type):
            keys += [f"{top.name}.{f.name}" for f in dataclasses.fields(top.type)]
        else:
            keys.append(top.name)
    return keys


def _error(overrides, config=DEFAULT):
    with pytest.raises(ValueError) as info:
        apply_overrides(config, overrides)
    return str(info.value)


# === Overrides ===


@pytest.mark.parametrize(
    "override, key, expected",
    [
        ("train.epochs=3", "train.epochs", 3),
        ("data.token_budget=25_000", "data.token_budget", 25000),
        ("model.dropout=0.25", "model.dropout", 0.25),
        ("train.learning_rate_scale=2", "train.learning_rate_scale", 2.0),
        ("train.clipnorm=1e-1", "train.clipnorm", 0.1),
        ("data.lowercase=true", "data.lowercase", True),
        ("data.lowercase=TRUE", "data.lowercase", True),
        ("data.joint_vocabulary=0", "data.joint_vocabulary", False),
        ("data.joint_vocabulary=false", "data.joint_vocabulary", False),
        ("model.normalize_first=1", "model.normalize_first", True),
        ("data.corpus=/data/multi30k", "data.corpus", "/data/multi30k"),
        ("name=run-2", "name", "run-2"),
        ("train.max_steps=100", "train.max_steps", 100),
        ("train.eval_max_sentences=none", "train.eval_max_sentences", None),
        ("model.preset=transformer_big", "model.preset", "transformer_big"),
        ("model.preset=None", "model.preset", None),
        ("data.long_pairs=truncate", "data.long_pairs", "truncate"),
        (
            "train.mixed_precision=mixed_bfloat16",
            "train.mixed_precision",
            "mixed_bfloat16",
        ),
        ("train.jit_compile=false", "train.jit_compile", False),
        ("train.jit_compile=auto", "train.jit_compile", "auto"),
        ("train.backup_every_steps=500", "train.backup_every_steps", 500),
        ("train.backup_every_steps=epoch", "train.backup_every_steps", "epoch"),
        ("train.devices=2", "train.devices", 2),
        ("decode.num_beams=1", "decode.num_beams", 1),
    ],
)
def test_override_parses_by_declared_type(override, key, expected):
    config = apply_overrides(DEFAULT, [override])
    section, _, name = key.rpartition(".")
    value = getattr(getattr(config, section) if section else config, name)
    assert value == expected
    assert type(value) is type(expected)


def test_overrides_return_a_new_config_and_the_last_one_wins():
    config = apply_overrides(
        DEFAULT, ["train.epochs=3", "model.dropout=0.2", "train.epochs=5"]
    )
    assert (config.train.epochs, config.model.dropout) == (5, 0.2)
    assert DEFAULT.train.epochs == 10 and DEFAULT.model.dropout is None
    assert config.data == DEFAULT.data  # untouched sections stay equal
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.epochs = 1


def test_unknown_key_names_it_and_suggests_the_close_key():
    message = _error(["train.epoch=3"])
    assert message.startswith(
        "Unknown key 'train.epoch' in --set train.epoch=3; "
        "did you mean 'train.epochs'? Valid keys: "
    )
    assert "train.warmup_steps" in message
    assert "model.num_layers" not in message  # only the section's keys


def test_unknown_key_without_section_suggests_the_sections_that_have_it():
    assert "did you mean 'train.epochs'?" in _error(["epochs=3"])
    assert "did you mean 'data.seed' or 'train.seed'?" in _error(["seed=1"])
    assert "did you mean 'model.dropout'?" in _error(["modle.dropout=0.1"])
    message = _error(["optimizer.lr=1"])
    assert "Unknown key 'optimizer.lr'" in message
    assert "model, data, train, decode" in message


def test_malformed_overrides_say_what_is_expected():
    assert "is not KEY=VALUE" in _error(["train.epochs"])
    assert "is not KEY=VALUE" in _error(["=3"])
    message = _error(["model=3"])
    assert "'model'" in message and "is a section" in message


@pytest.mark.parametrize(
    "override, expected",
    [
        ("model.num_layers=2.5", "Wrong type for model.num_layers: expected int"),
        ("train.epochs=three", "Wrong type for train.epochs: expected int,"),
        ("train.epochs=none", "Wrong type for train.epochs: expected int,"),
        ("model.dropout=high", "Wrong type for model.dropout: expected float"),
        ("train.label_smoothing=nan", "Wrong type for train.label_smoothing"),
        ("data.lowercase=yes please", "Wrong type for data.lowercase: expected bool"),
        (
            "train.jit_compile=maybe",
            "Wrong type for train.jit_compile: expected bool or 'auto'",
        ),
        (
            "train.backup_every_steps=often",
            "Wrong type for train.backup_every_steps: expected int or 'epoch'",
        ),
    ],
)
def test_wrong_type_names_the_key_and_the_value(override, expected):
    message = _error([override])
    assert message.startswith(expected)
    assert f"found {override.partition('=')[2]!r}" in message


def test_literal_choices_are_validated_and_listed():
    assert _error(["data.long_pairs=trim"]) == (
        "Invalid value for data.long_pairs: expected one of 'drop', 'truncate', "
        "found 'trim'"
    )
    message = _error(["train.mixed_precision=float16"])
    assert "'mixed_float16'" in message and "found 'float16'" in message
    message = _error(["model.preset=transformer_huge"])
    assert all(repr(name) in message for name in PRESETS)
    assert "Drop" in _error(["data.long_pairs=Drop"])  # choices are exact


def _choices(cls, name):
    """The strings a field's `Literal` allows."""
    annotation = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    members = [annotation, *typing.get_args(annotation)]  # alone or in a union
    literal = next(m for m in members if typing.get_origin(m) is typing.Literal)
    return typing.get_args(literal)


def test_literal_choices_match_the_library():
    from keras_transformer.data.pipeline import LONG_PAIR_POLICIES
    from keras_transformer.data.tokenizer import MODEL_TYPES
    from keras_transformer.models.transformer import POSITION_ENCODINGS

    assert _choices(DataConfig, "long_pairs") == LONG_PAIR_POLICIES
    assert _choices(DataConfig, "tokenizer_type") == MODEL_TYPES
    assert _choices(ModelConfig, "position_encoding") == POSITION_ENCODINGS
    assert set(_choices(ModelConfig, "preset")) == set(PRESETS)


# === Model arguments ===


def test_model_config_fields_are_transformer_arguments():
    parameters = inspect.signature(Transformer.__init__).parameters
    names = [f.name for f in dataclasses.fields(ModelConfig)]
    assert names[0] == "preset"
    assert set(names[1:]) <= set(parameters)
    assert "vocabulary_size" not in names  # it comes from the tokenizer


def test_model_kwargs_resolve_defaults_then_preset_then_fields():
    parameters = inspect.signature(Transformer.__init__).parameters
    kwargs = ModelConfig().model_kwargs()
    assert kwargs == {name: parameters[name].default for name in kwargs}
    assert kwargs["hidden_dim"] == 512  # the paper's base model

    tiny = ModelConfig(preset="transformer_tiny", dropout=0.0).model_kwargs(
        vocabulary_size=50, target_vocabulary_size=40
    )
    assert tiny["hidden_dim"] == PRESETS["transformer_tiny"]["hidden_dim"]
    assert tiny["num_layers"] == PRESETS["transformer_tiny"]["num_layers"]
    assert tiny["dropout"] == 0.0  # the field beats the preset's 0.1
    assert (tiny["vocabulary_size"], tiny["target_vocabulary_size"]) == (50, 40)
    assert "vocabulary_size" not in ModelConfig(preset="transformer_big").model_kwargs()
    # "none" unsets a field again: the preset's value comes back.
    config = apply_overrides(
        DEFAULT, ["model.preset=transformer_big", "model.dropout=0.1"]
    )
    config = apply_overrides(config, ["model.dropout=none"])
    assert config.model.model_kwargs()["dropout"] == 0.3


# === JSON ===


def _non_default_config():
    return apply_overrides(
        DEFAULT,
        [
            "name=round-trip",
            "model.preset=transformer_small",
            "model.dropout=0.3",
            "model.tie_embeddings=false",
            "data.corpus=/tmp/corpus",
            "data.long_pairs=truncate",
            "data.lowercase=true",
            "train.max_steps=7",
            "train.eval_max_sentences=none",
            "train.jit_compile=false",
            "train.backup_every_steps=100",
            "train.devices=2",
            "train.learning_rate_scale=2",
            "decode.length_penalty=1",
        ],
    )


def test_json_round_trip(tmp_path):
    config = _non_default_config()
    path = tmp_path / "runs" / "config.json"
    save_config(config, path)
    assert os.listdir(path.parent) == ["config.json"]  # no temporary left
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["train"]["backup_every_steps"] == 100
    assert data["train"]["eval_max_sentences"] is None
    assert load_config(path) == config
    assert config_from_dict(config_to_dict(config)) == config
    assert config_from_dict(config_to_dict(DEFAULT)) == DEFAULT


def test_from_dict_fills_missing_keys_and_widens_ints_to_floats():
    config = config_from_dict({"train": {"epochs": 2, "learning_rate_scale": 2}})
    assert config.train.epochs == 2 and config.train.warmup_steps == 4000
    assert type(config.train.learning_rate_scale) is float
    assert config.model == DEFAULT.model


@pytest.mark.parametrize(
    "data, expected",
    [
        (
            {"train": {"epoch": 3}},
            "Unknown key 'train.epoch' in the config; did you mean",
        ),
        ({"trian": {}}, "Unknown key 'trian'"),
        ({"train": 3}, "'train' in the config must be an object"),
        ({"train": {"epochs": "3"}}, "Wrong type for train.epochs: expected int"),
        ({"train": {"epochs": True}}, "Wrong type for train.epochs: expected int"),
        ({"data": {"long_pairs": "trim"}}, "Invalid value for data.long_pairs"),
        ({"model": {"dropout": None, "num_heads": 2.0}}, "model.num_heads"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_from_dict_rejects_unknown_keys_and_wrong_types(data, expected):
    with pytest.raises(ValueError) as info:
        config_from_dict(data)
    assert expected in str(info.value)


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No config file at"):
        load_config(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        load_config(broken)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"decode": {"beams": 4}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"'decode.beams' in .*unknown.json"):
        load_config(unknown)


# === Validation ===


def test_defaults_are_valid():
    assert validate(DEFAULT) is DEFAULT


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["model.hidden_dim=100", "model.num_heads=3"],
            "model.hidden_dim (100) must be divisible by model.num_heads (3)",
        ),
        (
            ["model.preset=transformer_tiny", "model.num_heads=3"],
            "model.hidden_dim (128) must be divisible by model.num_heads (3)",
        ),
        (["model.num_layers=0"], "model.num_layers must be at least 1, found 0"),
        (["model.dropout=1.0"], "model.dropout must be less than 1, found 1.0"),
        (["model.layer_norm_epsilon=0"], "model.layer_norm_epsilon must be greater"),
        (["model.activation=swoosh"], "model.activation 'swoosh' is not a Keras"),
        (
            ["model.position_encoding=learned", "model.max_sequence_length=64"],
            "data.max_length (128) exceeds model.max_sequence_length (64)",
        ),
        (["data.vocabulary_size=4"], "data.vocabulary_size must be at least 5"),
        (["data.source_language=de"], "are both 'de'"),
        (["data.source_language=fr"], "the built-in corpus is English→German"),
        (["data.corpus= "], "data.corpus must not be empty"),
        (["train.gradient_accumulation_steps=1"], "must be at least 2, found 1"),
        (["train.average_last=5"], "train.average_last (5) exceeds"),
        (["train.warmup_steps=0"], "train.warmup_steps must be at least 1"),
        (["train.label_smoothing=1"], "train.label_smoothing must be less than 1"),
        (["train.backup_every_steps=0"], "train.backup_every_steps must be at least"),
        (["train.devices=0"], "train.devices must be at least 1"),
        (["decode.num_beams=0"], "decode.num_beams must be at least 1"),
        (
            ["decode.max_length_ratio=0", "decode.max_length_offset=0"],
            "every output would be empty",
        ),
        (["name=../elsewhere"], "must be a plain directory name"),
    ],
)
def test_validate_rejects_impossible_configs(overrides, expected):
    config = apply_overrides(DEFAULT, overrides)
    with pytest.raises(ValueError) as info:
        validate(config)
    assert expected in str(info.value)


def test_validate_lists_every_problem():
    config = apply_overrides(DEFAULT, ["model.num_heads=7", "train.average_last=3"])
    with pytest.raises(ValueError) as info:
        validate(config)
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid configuration:"
    assert len(lines) == 3
    assert "divisible" in lines[1] and "average_last" in lines[2]


def test_validate_checks_types_of_configs_built_in_code():
    config = dataclasses.replace(DEFAULT, train=TrainConfig(epochs="3"))
    with pytest.raises(ValueError, match="Wrong type for train.epochs"):
        validate(config)
    config = dataclasses.replace(DEFAULT, model=ModelConfig(preset="huge"))
    with pytest.raises(ValueError, match="Invalid value for model.preset"):
        validate(config)


# === Help ===


def test_describe_fields_covers_every_field_with_help():
    fields = describe_fields()
    assert [field.key for field in fields] == _all_keys()
    for key, type_name, default, help_text in fields:
        assert help_text.strip() and "\n" not in help_text, key
        assert type_name, key
        section, _, name = key.rpartition(".")
        assert default == getattr(
            getattr(DEFAULT, section) if section else DEFAULT, name
        )
    by_key = {field.key: field for field in fields}
    assert by_key["data.long_pairs"].type == "one of 'drop', 'truncate'"
    assert by_key["train.max_steps"].type == "int or None"
    assert by_key["train.jit_compile"].type == "bool or 'auto'"
    # An unset model field's help shows the value it falls back to.
    assert by_key["model.num_layers"].help.endswith("else 6")


def test_describe_fields_shows_a_configs_values():
    config = apply_overrides(DEFAULT, ["train.epochs=3"])
    by_key = {field.key: field for field in describe_fields(config)}
    assert by_key["train.epochs"].default == 3


# === Recipes ===


def test_the_four_recipes_are_listed():
    assert {"builtin", "multi30k", "wmt14_base", "wmt14_big"} <= set(list_recipes())


@pytest.mark.parametrize("name", list_recipes())
def test_recipe_loads_validates_and_builds_its_model(name):
    config = load_recipe(name)
    assert isinstance(config, ExperimentConfig)
    assert config.name == name
    assert validate(config) is config
    full = config.model.model_kwargs()
    shrunk = apply_overrides(config, TINY)
    kwargs = shrunk.model.model_kwargs(vocabulary_size=37)
    model = Transformer(**kwargs)
    model_config = model.get_config()
    for key, value in kwargs.items():
        assert model_config[key] == value, key
    # What the shrink did not touch is the recipe's own value.
    for key in ("dropout", "position_encoding", "tie_embeddings", "normalize_first"):
        assert model_config[key] == full[key], key


@pytest.mark.parametrize(
    "name, layers, width, ff, heads, dropout, steps, averaged",
    [
        ("wmt14_base", 6, 512, 2048, 8, 0.1, 100_000, 5),
        ("wmt14_big", 6, 1024, 4096, 16, 0.3, 300_000, 20),
    ],
)
def test_paper_recipes_follow_table_3(
    name, layers, width, ff, heads, dropout, steps, averaged
):
    config = load_recipe(name)
    kwargs = config.model.model_kwargs()
    assert (kwargs["num_layers"], kwargs["hidden_dim"]) == (layers, width)
    assert (kwargs["intermediate_dim"], kwargs["num_heads"]) == (ff, heads)
    assert kwargs["dropout"] == dropout
    assert (config.data.vocabulary_size, config.data.joint_vocabulary) == (37000, True)
    assert config.data.token_budget == 25000
    train = config.train
    assert (train.warmup_steps, train.label_smoothing) == (4000, 0.1)
    assert (train.max_steps, train.average_last) == (steps, averaged)
    decode = config.decode
    assert (decode.num_beams, decode.length_penalty) == (4, 0.6)
    assert (decode.max_length_ratio, decode.max_length_offset) == (1.0, 50)


def test_load_recipe_from_a_path(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "import dataclasses\n"
        "from keras_transformer.config import ExperimentConfig\n"
        "def get_config():\n"
        "    return dataclasses.replace(ExperimentConfig(), name='mine')\n",
        encoding="utf-8",
    )
    assert load_recipe(path).name == "mine"
    assert load_recipe(str(path)).name == "mine"


def test_load_recipe_errors(tmp_path):
    with pytest.raises(ValueError) as info:
        load_recipe("multi30")
    message = str(info.value)
    assert (
        "Unknown recipe 'multi30'" in message and "Did you mean 'multi30k'?" in message
    )
    assert all(name in message for name in list_recipes())
    with pytest.raises(FileNotFoundError, match="No recipe file at"):
        load_recipe(tmp_path / "missing.py")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="defines no get_config"):
        load_recipe(empty)
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def get_config():\n    return {}\n", encoding="utf-8")
    with pytest.raises(TypeError, match="returned dict, not an ExperimentConfig"):
        load_recipe(wrong)
