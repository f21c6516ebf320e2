"""Padding mask derived from token ids, as a layer for functional models."""

import keras

from keras_transformer.layers.masking import compute_padding_mask


@keras.saving.register_keras_serializable(package="keras_transformer")
class PaddingMask(keras.layers.Layer):
    """Returns `token_ids != padding_id`: `True` at real tokens.

    Args:
        padding_id: the id of the padding token.
        **kwargs: `keras.layers.Layer` arguments.

    Example:

    >>> PaddingMask(padding_id=0)(keras.ops.array([[5, 6, 0]]))
    """

    def __init__(self, padding_id=0, **kwargs):
        super().__init__(**kwargs)
        self.padding_id = padding_id
        self.built = True

    def call(self, token_ids):
        return compute_padding_mask(token_ids, self.padding_id)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config["padding_id"] = self.padding_id
        return config
