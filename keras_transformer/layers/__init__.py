"""Transformer layers over `keras.ops`: they run on TensorFlow, JAX and PyTorch."""

from keras_transformer.layers.learned_position_embedding import (
    LearnedPositionEmbedding,
)
from keras_transformer.layers.masking import (
    compute_causal_mask,
    compute_padding_mask,
    merge_attention_masks,
)
from keras_transformer.layers.multi_head_attention import (
    MultiHeadAttention,
    scaled_dot_product_attention,
)
from keras_transformer.layers.padding_mask import PaddingMask
from keras_transformer.layers.position_wise_feed_forward import (
    PositionwiseFeedForward,
)
from keras_transformer.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)
from keras_transformer.layers.token_embedding import TokenEmbedding
from keras_transformer.layers.transformer_decoder import TransformerDecoder
from keras_transformer.layers.transformer_decoder_block import (
    TransformerDecoderBlock,
)
from keras_transformer.layers.transformer_encoder import TransformerEncoder
from keras_transformer.layers.transformer_encoder_block import (
    TransformerEncoderBlock,
)

__all__ = [
    "LearnedPositionEmbedding",
    "MultiHeadAttention",
    "PaddingMask",
    "PositionwiseFeedForward",
    "SinusoidalPositionEncoding",
    "TokenEmbedding",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
    "compute_causal_mask",
    "compute_padding_mask",
    "merge_attention_masks",
    "scaled_dot_product_attention",
]
