"""The bases of blocks and stacks: shared hyper-parameters, sub-layer
factories, the residual wrapping of a block's sub-layers, a stack's loop."""

import keras

from keras_transformer.layers.dropout import seeded_dropout
from keras_transformer.layers.multi_head_attention import MultiHeadAttention
from keras_transformer.layers.position_wise_feed_forward import (
    PositionwiseFeedForward,
)
from keras_transformer.layers.residual import sublayer_input, sublayer_output


class TransformerLayerBase(keras.layers.Layer):
    """Base of the encoder/decoder blocks and stacks.

    Holds the hyper-parameters they all share, stores each under its own
    name, returns them from `get_config()`, and builds sub-layers with the
    layer's dtype policy. Not a layer to use on its own.

    Args:
        num_heads: attention heads per attention sub-layer (h).
        intermediate_dim: feed-forward inner width (d_ff).
        dropout: residual dropout on each sub-layer's output (P_drop, §5.4).
        attention_dropout: dropout on attention weights (0 in the paper; any
            other value makes training take the explicit attention path).
        activation_dropout: dropout on the feed-forward inner activations.
        activation: feed-forward activation.
        layer_norm_epsilon: epsilon of every layer normalization.
        normalize_first: pre-LN if `True`; post-LN (the paper) if `False`.
        use_fused_attention: let attention use `keras.ops.dot_product_attention`.
        key_dim: query/key size per head (d_k); `None`: hidden_dim / num_heads
            (d_k = d_v = d_model / h, §3.2.2). Values keep d_model / h.
        kernel_initializer: initializer of every dense kernel.
        bias_initializer: initializer of every dense bias.
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        use_fused_attention=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        key_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if key_dim is not None and key_dim < 1:
            raise ValueError(f"key_dim must be at least 1; received {key_dim}.")
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.use_fused_attention = use_fused_attention
        self.key_dim = key_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _shared_config(self):
        return {
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation_dropout": self.activation_dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "use_fused_attention": self.use_fused_attention,
            "key_dim": self.key_dim,
            **self._initializer_configs(),
        }

    def get_config(self):
        config = super().get_config()
        config.update(self._shared_config())
        return config

    def _initializer_configs(self):
        # Serialized, so that every sub-layer builds its own initializer.
        return {
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }

    def _head_dim(self, hidden_dim):
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"{self.name}: the hidden size ({hidden_dim}) must be divisible "
                f"by num_heads ({self.num_heads})."
            )
        return hidden_dim // self.num_heads

    def _make_attention(self, hidden_dim, name):
        head_dim = self._head_dim(hidden_dim)
        return MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim or head_dim,
            value_dim=head_dim,
            dropout=self.attention_dropout,
            use_fused_attention=self.use_fused_attention,
            **self._initializer_configs(),
            dtype=self.dtype_policy,
            name=name,
        )

    def _make_feed_forward(self, name="feed_forward"):
        return PositionwiseFeedForward(
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            activation_dropout=self.activation_dropout,
            **self._initializer_configs(),
            dtype=self.dtype_policy,
            name=name,
        )

    def _make_layer_norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _make_dropout(self, name):
        return seeded_dropout(self.dropout, name, self.dtype_policy)


class TransformerBlockBase(TransformerLayerBase):
    """Base of the encoder and decoder blocks: self-attention and the
    feed-forward network, each wrapped in dropout, a residual connection and
    layer normalization (§5.4). Sub-layers read as public properties.
    """

    def _residual_wrapping(self, name, inputs_shape):
        """The layer norm and dropout around the sub-layer `name`, named
        `{name}_layer_norm` and `{name}_dropout`."""
        layer_norm = self._make_layer_norm(f"{name}_layer_norm")
        layer_norm.build(inputs_shape)
        return layer_norm, self._make_dropout(f"{name}_dropout")

    def _build_self_attention(self, inputs_shape):
        self._self_attention = self._make_attention(inputs_shape[-1], "self_attention")
        self._self_attention.build(inputs_shape, inputs_shape)

    def _build_feed_forward(self, inputs_shape):
        self._feed_forward = self._make_feed_forward()
        self._feed_forward.build(inputs_shape)
        self._feed_forward_layer_norm, self._feed_forward_dropout = (
            self._residual_wrapping("feed_forward", inputs_shape)
        )

    @property
    def self_attention(self):
        """The self-attention sub-layer (`MultiHeadAttention`)."""
        return self._self_attention

    @property
    def self_attention_layer_norm(self):
        """The layer norm of the self-attention sub-layer (before it when
        `normalize_first`, after the residual otherwise)."""
        return self._self_attention_layer_norm

    @property
    def feed_forward(self):
        """The position-wise feed-forward sub-layer."""
        return self._feed_forward

    @property
    def feed_forward_layer_norm(self):
        """The layer norm of the feed-forward sub-layer."""
        return self._feed_forward_layer_norm

    def _feed_forward_sublayer(self, inputs, training):
        """The feed-forward sub-layer (§3.3) with its residual and norm."""
        x = sublayer_input(inputs, self._feed_forward_layer_norm, self.normalize_first)
        return sublayer_output(
            inputs,
            self._feed_forward(x, training=training),
            self._feed_forward_layer_norm,
            self._feed_forward_dropout,
            self.normalize_first,
            training,
        )


class TransformerStackBase(TransformerLayerBase):
    """Base of the encoder and decoder stacks: `num_layers` blocks of one class.

    With `normalize_first=True` (pre-LN) a final layer normalization follows
    the last block, as pre-LN stacks need.
    """

    block_class = None

    def __init__(self, num_layers, num_heads, intermediate_dim, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1. Received: {num_layers}.")
        self.num_layers = num_layers

    def _build_blocks(self, *input_shapes):
        self._blocks = []
        for index in range(self.num_layers):
            block = self.block_class(
                **self._shared_config(), dtype=self.dtype_policy, name=f"block_{index}"
            )
            block.build(*input_shapes)
            self._blocks.append(block)
        self._final_layer_norm = None
        if self.normalize_first:
            self._final_layer_norm = self._make_layer_norm("final_layer_norm")
            self._final_layer_norm.build(input_shapes[0])
        self.built = True

    @property
    def blocks(self):
        """The blocks, first to last (a tuple)."""
        return tuple(self._blocks)

    @property
    def final_layer_norm(self):
        """The layer norm after the last block of a pre-LN stack; `None` for
        post-LN."""
        return self._final_layer_norm

    def normalize_output(self, x):
        """`x` through `final_layer_norm`, if the stack has one."""
        return x if self._final_layer_norm is None else self._final_layer_norm(x)

    def _run_blocks(self, x, return_attention_scores, **block_arguments):
        """Every block in order, then the final norm: a stack's full pass.

        Returns the output, and with `return_attention_scores` a list with
        what each block returned as its scores.
        """
        all_scores = []
        for block in self._blocks:
            x = block(
                x, return_attention_scores=return_attention_scores, **block_arguments
            )
            if return_attention_scores:
                x, scores = x
                all_scores.append(scores)
        x = self.normalize_output(x)
        return (x, all_scores) if return_attention_scores else x

    def get_config(self):
        config = super().get_config()
        config["num_layers"] = self.num_layers
        return config
