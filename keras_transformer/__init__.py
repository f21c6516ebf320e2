"""keras_transformer: the Transformer of "Attention Is All You Need" in Keras 3.

Runs unchanged on the TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND`).
"""

from keras_transformer import layers, models
from keras_transformer.models import PRESETS, Transformer

__version__ = "0.1.0"

__all__ = ["PRESETS", "Transformer", "layers", "models", "__version__"]
