"""Fixed sinusoidal positional encoding."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_transformer")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Adds the sinusoidal positional encoding of Vaswani et al. 2017, §3.5.

    `PE(pos, 2i) = sin(pos / 10000^(2i/d_model))` and
    `PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))`, sines and cosines
    interleaved as in the paper. The encoding has no weights and works for
    any sequence length.

    Args:
        max_wavelength: the base of the geometric progression of wavelengths
            (10000 in the paper).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: embeddings `(batch, seq_len, hidden_dim)`, `hidden_dim` even.
        start_index: position of the first element (the cache index when
            decoding one token at a time). Int or scalar tensor.

    Returns:
        `inputs + PE[start_index : start_index + seq_len]`.

    Example:

    >>> x = keras.ops.zeros((2, 3, 4))
    >>> SinusoidalPositionEncoding()(x).shape
    (2, 3, 4)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def build(self, inputs_shape):
        if inputs_shape[-1] is not None and inputs_shape[-1] % 2:
            raise ValueError(
                "SinusoidalPositionEncoding needs an even hidden size; "
                f"received inputs of shape {inputs_shape}."
            )
        self.built = True

    def compute_encoding(self, seq_len, hidden_dim, start_index=0):
        """Returns the float32 encoding `(seq_len, hidden_dim)`."""
        positions = ops.cast(ops.arange(seq_len) + start_index, "float32")
        exponents = ops.cast(ops.arange(0, hidden_dim, 2), "float32") / hidden_dim
        inverse_wavelengths = ops.power(self.max_wavelength, -exponents)
        angles = ops.expand_dims(positions, -1) * inverse_wavelengths  # (T, D/2)
        # Interleave: [sin(a0), cos(a0), sin(a1), cos(a1), ...]
        encoding = ops.stack([ops.sin(angles), ops.cos(angles)], axis=-1)
        return ops.reshape(encoding, (seq_len, hidden_dim))

    def call(self, inputs, start_index=0):
        encoding = self.compute_encoding(
            ops.shape(inputs)[1], inputs.shape[-1], start_index
        )
        return inputs + ops.cast(encoding, inputs.dtype)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config["max_wavelength"] = self.max_wavelength
        return config
