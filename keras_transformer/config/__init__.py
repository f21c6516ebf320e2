"""Run configuration: frozen dataclasses, overrides, JSON, validation.

- `schema`: the dataclasses, read top to bottom;
- `overrides`: keys, `apply_overrides` (`--set`), JSON, `--help` text;
- `validation`: `validate`.

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

from keras_transformer.config.overrides import (
    FieldInfo,
    apply_overrides,
    config_from_dict,
    config_keys,
    config_to_dict,
    describe_fields,
    load_config,
    save_config,
)
from keras_transformer.config.schema import (
    ARCHITECTURE,
    DataConfig,
    DecodeConfig,
    ExperimentConfig,
    ModelConfig,
    TrainConfig,
)
from keras_transformer.config.validation import validate

__all__ = [
    "ARCHITECTURE",
    "DataConfig",
    "DecodeConfig",
    "ExperimentConfig",
    "FieldInfo",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_keys",
    "config_to_dict",
    "describe_fields",
    "load_config",
    "save_config",
    "validate",
]
