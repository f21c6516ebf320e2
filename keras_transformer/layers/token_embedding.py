"""Token embedding scaled by √d_model, reversible into output logits."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class TokenEmbedding(keras.layers.ReversibleEmbedding):
    """Token embedding multiplied by √d_model (Vaswani et al. 2017, §3.4).

    A `keras.layers.ReversibleEmbedding`: called with `reverse=True` it maps
    hidden states to vocabulary logits, through the transposed embedding
    matrix when `tie_weights=True` (the paper shares one matrix between the
    embedding layers and the pre-softmax projection) or through a separate
    matrix otherwise. Only the forward lookup is scaled. Reverse logits are
    computed in the compute dtype (bfloat16 under `mixed_bfloat16`) and
    returned in float32 so a mixed-precision softmax cannot overflow.
    `quantize("int8")` stores the matrix as int8 with one scale per token,
    as Keras does for a `ReversibleEmbedding`, and keeps the scaling.

    The default initializer is `N(0, hidden_dim^-0.5)`: after the √d_model
    scaling the embeddings have unit variance, on the scale of the
    positional encoding (as in tensor2tensor and fairseq).

    Args:
        vocabulary_size: number of tokens.
        hidden_dim: embedding width (d_model).
        tie_weights: share the matrix between lookup and reverse projection.
        embeddings_initializer: defaults to `N(0, hidden_dim^-0.5)`.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    >>> embedding = TokenEmbedding(vocabulary_size=10, hidden_dim=4)
    >>> hidden = embedding(keras.ops.array([[1, 2, 3]]))
    >>> embedding(hidden, reverse=True).shape
    (1, 3, 10)
    """

    def __init__(
        self,
        vocabulary_size,
        hidden_dim,
        tie_weights=True,
        embeddings_initializer=None,
        **kwargs,
    ):
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(
                stddev=hidden_dim**-0.5
            )
        super().__init__(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            tie_weights=tie_weights,
            embeddings_initializer=embeddings_initializer,
            **kwargs,
        )
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        # Keras' embeddings are not autocast: under a mixed policy the
        # reverse projection would multiply compute-dtype hidden states by
        # the float32 matrix, a float32 product (the largest of a training
        # step). Cast both to the compute dtype, as torch.autocast and
        # keras-hub do; the logits then go to float32 (`_scaled`).
        self.reverse_dtype = self.compute_dtype

    def call(self, inputs, reverse=False):
        return self._scaled(super().call(inputs, reverse=reverse), reverse)

    def _scaled(self, outputs, reverse):
        if reverse:
            return ops.cast(outputs, "float32")
        return outputs * ops.cast(math.sqrt(self.hidden_dim), outputs.dtype)

    # === Quantization ===
    # Keras quantizes a `ReversibleEmbedding` but no subclass of it (its
    # `quantize` checks the type), and a quantized layer runs
    # `quantized_call` instead of `call`. This layer adds nothing to the
    # weights, so it takes Keras' quantization as it is (per-token int8
    # scales; the reverse projection quantizes its inputs too) and applies
    # its own scaling to what the quantized call returns.

    def quantize(self, mode=None, type_check=True, config=None):
        super().quantize(mode, type_check=False, config=config)

    def quantized_call(self, inputs, reverse=False):
        return self._scaled(super().quantized_call(inputs, reverse=reverse), reverse)

    def compute_output_spec(self, inputs, reverse=False):
        spec = super().compute_output_spec(inputs, reverse=reverse)
        if reverse:
            return keras.KerasTensor(spec.shape, dtype="float32")
        return spec

    def get_config(self):
        config = super().get_config()
        for key in ("input_dim", "output_dim", "mask_zero", "reverse_dtype"):
            config.pop(key, None)
        config.update(
            {"vocabulary_size": self.vocabulary_size, "hidden_dim": self.hidden_dim}
        )
        return config
