"""keras_transformer: the Transformer of "Attention Is All You Need" in Keras 3.

Runs unchanged on the TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND`).

The public API at a glance:

- `Transformer`, `PRESETS`, `layers`, `models`: the model (keras only);
- `load_recipe`, `list_recipes`, `apply_overrides`, `ExperimentConfig`: run
  configurations;
- `train(config, workdir)`: a whole run, resumable;
- `Translator`: strings in, strings out; `export_saved_model` and
  `export_ctranslate2`: serving.

The names of the second group onwards are imported on first use, so
`import keras_transformer` stays as light as Keras itself (TensorFlow loads
with the data pipeline, not before).
"""

import importlib
from importlib import metadata

from keras_transformer import layers, models
from keras_transformer.models import PRESETS, Transformer

try:
    __version__ = metadata.version("keras-transformer")
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_LAZY = {
    "ExperimentConfig": "keras_transformer.config",
    "apply_overrides": "keras_transformer.config",
    "list_recipes": "keras_transformer.recipes",
    "load_recipe": "keras_transformer.recipes",
    "train": "keras_transformer.training.trainer",
    "Translator": "keras_transformer.translator",
    "export_saved_model": "keras_transformer.export",
    "export_ctranslate2": "keras_transformer.ctranslate2_export",
}

__all__ = ["PRESETS", "Transformer", "layers", "models", "__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_transformer' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
