"""The encoder-decoder Transformer for sequence-to-sequence tasks."""

import copy

import keras

from keras_transformer.layers.dropout import seeded_dropout
from keras_transformer.layers.learned_position_embedding import (
    LearnedPositionEmbedding,
)
from keras_transformer.layers.masking import compute_padding_mask
from keras_transformer.layers.padding_mask import PaddingMask
from keras_transformer.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)
from keras_transformer.layers.token_embedding import TokenEmbedding
from keras_transformer.layers.transformer_decoder import TransformerDecoder
from keras_transformer.layers.transformer_encoder import TransformerEncoder
from keras_transformer.models.arguments import check_keyword_arguments
from keras_transformer.models.presets import PRESETS
from keras_transformer.models.train_step_compiler import (
    compiled_train_function,
    wants_compiled_train_step,
)

POSITION_ENCODINGS = ("sinusoidal", "learned")
# The layers `Transformer.quantize` quantizes by default.
QUANTIZABLE_LAYERS = (keras.layers.Dense, keras.layers.Embedding)
# The keras.Model arguments a Transformer passes on; any other is a typo.
MODEL_ARGUMENTS = ("name", "dtype", "trainable")


def _embed(
    token_ids, token_embedding, position_encoding, dropout, start_index=0, training=None
):
    """Token embedding (×√d_model), plus positions, then dropout (§3.4, §5.4)."""
    x = position_encoding(token_embedding(token_ids), start_index=start_index)
    return dropout(x, training=training)


def _has_quantized_form(layer):
    return isinstance(layer, QUANTIZABLE_LAYERS)


@keras.saving.register_keras_serializable(package="keras_transformer")
class Transformer(keras.Model):
    """The Transformer of Vaswani et al. 2017 ("Attention Is All You Need").

    Source token ids go through the token embedding (scaled by √d_model,
    §3.4), the positional encoding (§3.5), dropout, and the encoder stack;
    target token ids (shifted right: a start token first) through the same
    kind of embedding and the decoder stack, which attends to the encoder
    output. The decoder output is projected to vocabulary logits (float32)
    by the transposed target embedding.

    Vocabularies: with `target_vocabulary_size=None` source and target share
    one vocabulary and one embedding matrix, which with `tie_embeddings=True`
    is also the pre-softmax projection: the paper's three-way tying (§3.4).
    With a separate target vocabulary, `tie_embeddings=True` ties the target
    embedding with the output projection.

    Padding: by default the padding masks are derived from `padding_id`, so
    the model takes just the two id tensors. With `padding_mask_inputs=True`
    it takes the masks as two more inputs, `encoder_padding_mask` and
    `decoder_padding_mask` (boolean, `True` at real tokens).

    Incremental decoding uses `encode`, `compute_cross_attention_cache`,
    `initial_self_attention_cache` and `decode_with_cache`: the encoder runs
    once, the cross-attention keys/values are computed once, and each step
    writes its keys/values into a static-shape cache.

    Args:
        vocabulary_size: source vocabulary size (the shared one when
            `target_vocabulary_size` is `None`).
        num_layers: blocks in each of the encoder and decoder stacks (N).
        num_heads: attention heads (h).
        hidden_dim: model width (d_model).
        intermediate_dim: feed-forward inner width (d_ff).
        dropout: residual and embedding dropout (P_drop).
        attention_dropout: dropout on attention weights (0 in the paper).
        activation_dropout: dropout inside the feed-forward network.
        activation: feed-forward activation.
        target_vocabulary_size: target vocabulary size, or `None` to share
            the source vocabulary.
        tie_embeddings: tie the target embedding with the output projection.
        position_encoding: `"sinusoidal"` (the paper) or `"learned"`.
        max_sequence_length: the longest sequence a learned position table
            covers; sinusoidal encodings have no limit.
        layer_norm_epsilon: epsilon of every layer normalization.
        normalize_first: pre-LN instead of the paper's post-LN.
        padding_id: the token id that marks padding.
        padding_mask_inputs: take the padding masks as inputs.
        use_fused_attention: let attention use the backend's fused kernel.
        key_dim: query/key size per head (d_k); `None`: hidden_dim /
            num_heads, the paper's d_k = d_v = d_model / h (§3.2.2). Values
            keep d_model / h whatever `key_dim` is, as in Table 3 row (B),
            which varies d_k at fixed d_model (d_k ≠ d_v attends on the
            explicit path: fused kernels need equal sizes).
        **kwargs: `keras.Model` arguments (`name`, `dtype`, `trainable`);
            any other keyword is an error.

    Inputs:
        `{"encoder_token_ids": (batch, source_len) int,
          "decoder_token_ids": (batch, target_len) int}`, plus the two masks
        with `padding_mask_inputs=True`.

    Returns:
        Logits `(batch, target_len, target_vocabulary_size)` in float32.

    Example:

    >>> model = Transformer.from_preset("transformer_tiny", vocabulary_size=100)
    >>> logits = model(
    ...     {
    ...         "encoder_token_ids": keras.ops.array([[5, 6, 7, 0]]),
    ...         "decoder_token_ids": keras.ops.array([[1, 8, 9]]),
    ...     }
    ... )
    >>> logits.shape
    (1, 3, 100)

    Training: `compile` and `fit` as any Keras model. On PyTorch,
    `compile(jit_compile=True)` compiles the forward pass and the update as
    graphs (one per batch shape), with the losses of eager training.
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers=6,
        num_heads=8,
        hidden_dim=512,
        intermediate_dim=2048,
        dropout=0.1,
        attention_dropout=0.0,
        activation_dropout=0.0,
        activation="relu",
        target_vocabulary_size=None,
        tie_embeddings=True,
        position_encoding="sinusoidal",
        max_sequence_length=1024,
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        padding_id=0,
        padding_mask_inputs=False,
        use_fused_attention=True,
        key_dim=None,
        **kwargs,
    ):
        check_keyword_arguments(Transformer, kwargs, MODEL_ARGUMENTS)
        if position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"position_encoding must be one of {POSITION_ENCODINGS}. "
                f"Received: {position_encoding!r}."
            )
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim ({hidden_dim}) must be divisible by num_heads "
                f"({num_heads})."
            )
        dtype = kwargs.pop("dtype", None)
        shared_vocabulary = target_vocabulary_size is None

        # === Layers ===
        def embedding(vocab_size, tie, name):
            return TokenEmbedding(
                vocab_size, hidden_dim, tie_weights=tie, dtype=dtype, name=name
            )

        def positions(name):
            if position_encoding == "sinusoidal":
                return SinusoidalPositionEncoding(dtype=dtype, name=name)
            return LearnedPositionEmbedding(max_sequence_length, dtype=dtype, name=name)

        stack_kwargs = {
            "num_layers": num_layers,
            "num_heads": num_heads,
            "intermediate_dim": intermediate_dim,
            "dropout": dropout,
            "attention_dropout": attention_dropout,
            "activation_dropout": activation_dropout,
            "activation": activation,
            "layer_norm_epsilon": layer_norm_epsilon,
            "normalize_first": normalize_first,
            "use_fused_attention": use_fused_attention,
            "key_dim": key_dim,
            "dtype": dtype,
        }
        if shared_vocabulary:
            encoder_token_embedding = embedding(
                vocabulary_size, tie_embeddings, "token_embedding"
            )
            decoder_token_embedding = encoder_token_embedding
        else:
            encoder_token_embedding = embedding(
                vocabulary_size, True, "encoder_token_embedding"
            )
            decoder_token_embedding = embedding(
                target_vocabulary_size, tie_embeddings, "decoder_token_embedding"
            )
        encoder_position_encoding = positions("encoder_position_encoding")
        decoder_position_encoding = positions("decoder_position_encoding")
        encoder_embedding_dropout = seeded_dropout(
            dropout, "encoder_embedding_dropout", dtype
        )
        decoder_embedding_dropout = seeded_dropout(
            dropout, "decoder_embedding_dropout", dtype
        )
        encoder = TransformerEncoder(**stack_kwargs, name="encoder")
        decoder = TransformerDecoder(**stack_kwargs, name="decoder")

        # === Functional model ===
        encoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="encoder_token_ids"
        )
        decoder_token_ids = keras.Input(
            shape=(None,), dtype="int32", name="decoder_token_ids"
        )
        inputs = {
            "encoder_token_ids": encoder_token_ids,
            "decoder_token_ids": decoder_token_ids,
        }
        if padding_mask_inputs:
            encoder_padding_mask = keras.Input(
                shape=(None,), dtype="bool", name="encoder_padding_mask"
            )
            decoder_padding_mask = keras.Input(
                shape=(None,), dtype="bool", name="decoder_padding_mask"
            )
            inputs["encoder_padding_mask"] = encoder_padding_mask
            inputs["decoder_padding_mask"] = decoder_padding_mask
        else:
            encoder_padding_mask = PaddingMask(padding_id, name="encoder_padding_mask")(
                encoder_token_ids
            )
            decoder_padding_mask = PaddingMask(padding_id, name="decoder_padding_mask")(
                decoder_token_ids
            )

        source = _embed(
            encoder_token_ids,
            encoder_token_embedding,
            encoder_position_encoding,
            encoder_embedding_dropout,
        )
        encoder_output = encoder(source, padding_mask=encoder_padding_mask)
        target = _embed(
            decoder_token_ids,
            decoder_token_embedding,
            decoder_position_encoding,
            decoder_embedding_dropout,
        )
        decoder_output = decoder(
            target,
            encoder_output,
            decoder_padding_mask=decoder_padding_mask,
            encoder_padding_mask=encoder_padding_mask,
        )
        logits = decoder_token_embedding(decoder_output, reverse=True)
        super().__init__(inputs=inputs, outputs=logits, dtype=dtype, **kwargs)

        # Layers are attached after `super().__init__` (torch modules require
        # it) for the incremental-decoding methods below.
        self.encoder_token_embedding = encoder_token_embedding
        self.decoder_token_embedding = decoder_token_embedding
        self.encoder_position_encoding = encoder_position_encoding
        self.decoder_position_encoding = decoder_position_encoding
        self.encoder_embedding_dropout = encoder_embedding_dropout
        self.decoder_embedding_dropout = decoder_embedding_dropout
        self.encoder = encoder
        self.decoder = decoder

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.activation_dropout = activation_dropout
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.target_vocabulary_size = target_vocabulary_size
        self.tie_embeddings = tie_embeddings
        self.position_encoding = position_encoding
        self.max_sequence_length = max_sequence_length
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.padding_id = padding_id
        self.padding_mask_inputs = padding_mask_inputs
        self.use_fused_attention = use_fused_attention
        self.key_dim = key_dim

    # === Incremental decoding ===

    def encode(self, encoder_token_ids, encoder_padding_mask=None, training=False):
        """Runs the encoder once: `(batch, source_len, hidden_dim)`.

        The padding mask defaults to `encoder_token_ids != padding_id`.
        """
        if encoder_padding_mask is None:
            encoder_padding_mask = compute_padding_mask(
                encoder_token_ids, self.padding_id
            )
        source = _embed(
            encoder_token_ids,
            self.encoder_token_embedding,
            self.encoder_position_encoding,
            self.encoder_embedding_dropout,
            training=training,
        )
        return self.encoder(
            source,
            padding_mask=encoder_padding_mask,
            training=training,
        )

    def compute_cross_attention_cache(self, encoder_output):
        """Encoder keys/values of every decoder block, computed once per source.

        Returns a list with one `(keys, values)` pair per block, each
        `(batch, num_heads, source_len, head_dim)`.
        """
        return self.decoder.compute_cross_attention_cache(encoder_output)

    def initial_self_attention_cache(self, batch_size, max_length):
        """Zeroed decoder self-attention cache for `max_length` target tokens.

        Returns a list with one `(keys, values)` pair per block, each
        `(batch, num_heads, max_length, head_dim)`.
        """
        return self.decoder.initial_self_attention_cache(batch_size, max_length)

    def decode_with_cache(
        self,
        decoder_token_ids,
        self_attention_cache,
        cross_attention_cache,
        cache_update_index,
        encoder_padding_mask,
        training=False,
    ):
        """Runs the decoder on new target tokens against the caches.

        Args:
            decoder_token_ids: `(batch, step_len)` ids at positions
                `cache_update_index .. cache_update_index + step_len - 1`.
            self_attention_cache: from `initial_self_attention_cache` or the
                previous step.
            cross_attention_cache: from `compute_cross_attention_cache`: of
                the batch's rows, or one row per `k` consecutive rows (the
                beams of a sentence), which share it.
            cache_update_index: position of the first new token.
            encoder_padding_mask: `(rows, source_len)`, `False` at padding,
                with the rows of `cross_attention_cache`.
            training: whether dropout is active (as in `encode`, off unless
                asked for).

        Returns:
            `(logits, self_attention_cache)`: float32 logits
            `(batch, step_len, target_vocabulary_size)` and the updated cache.
        """
        x = _embed(
            decoder_token_ids,
            self.decoder_token_embedding,
            self.decoder_position_encoding,
            self.decoder_embedding_dropout,
            start_index=cache_update_index,
            training=training,
        )
        x, self_attention_cache = self.decoder(
            x,
            encoder_padding_mask=encoder_padding_mask,
            self_attention_cache=self_attention_cache,
            cross_attention_cache=cross_attention_cache,
            cache_update_index=cache_update_index,
            training=training,
        )
        return self.decoder_token_embedding(x, reverse=True), self_attention_cache

    # === Training ===

    def make_train_function(self, force=False):
        """Keras' train function, except on PyTorch with `jit_compile=True`:
        there the forward pass with its loss and the update compile as two
        graphs (`models/train_step_compiler.py` says why), where Keras would
        compile its whole `train_step` and break the graph at the backward
        pass and at every dropout."""
        if (self.train_function is None or force) and wants_compiled_train_step(self):
            self.train_function = compiled_train_function(self)
            return self.train_function
        return super().make_train_function(force=force)

    # === Quantization ===

    def quantize(self, mode=None, filters=None, **kwargs):
        """Keras' post-training quantization (`keras.Model.quantize`), e.g.
        `model.quantize("int8")` for int8 inference.

        By default it quantizes the layers that have a quantized form: every
        `Dense` (the attention projections and the feed-forward network) and
        the token embedding(s), which are also the output projection. Layer
        norms, biases and positions stay in float. `filters` selects layers
        as in Keras. The model saves and loads quantized (`get_config`
        records each quantized layer's policy).
        """
        if filters is None:
            filters = _has_quantized_form
        super().quantize(mode, filters=filters, **kwargs)

    @property
    def quantization(self):
        """The mode the layers are quantized in (`"int8"`), or `None`."""
        modes = sorted(
            {
                layer.quantization_mode
                for layer in self._flatten_layers(include_self=False)
                if layer.quantization_mode is not None
            }
        )
        return "+".join(modes) or None

    # === Presets and serialization ===

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Builds a freshly initialized model of a named architecture.

        Args:
            preset: one of `Transformer.presets` (e.g. `"transformer_base"`).
            **overrides: constructor arguments that replace the preset's
                (typically `vocabulary_size`).
        """
        if preset not in PRESETS:
            raise ValueError(
                f"Unknown preset {preset!r}. Available: {sorted(PRESETS)}."
            )
        config = copy.deepcopy(PRESETS[preset])
        config.update(overrides)
        return cls(**config)

    presets = tuple(sorted(PRESETS))

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self._dtype_policies()),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation_dropout": self.activation_dropout,
            "activation": self.activation,
            "target_vocabulary_size": self.target_vocabulary_size,
            "tie_embeddings": self.tie_embeddings,
            "position_encoding": self.position_encoding,
            "max_sequence_length": self.max_sequence_length,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "padding_id": self.padding_id,
            "padding_mask_inputs": self.padding_mask_inputs,
            "use_fused_attention": self.use_fused_attention,
            "key_dim": self.key_dim,
        }

    def _dtype_policies(self):
        """The model's dtype policy; once quantized, a `DTypePolicyMap` of
        each quantized layer's policy by path (as keras-hub's backbones
        save theirs), which the constructor hands to every layer."""
        policy = self.dtype_policy
        if isinstance(policy, keras.dtype_policies.DTypePolicyMap):
            return policy
        quantized = {
            layer.path: layer.dtype_policy
            for layer in self._flatten_layers(include_self=False)
            if layer.quantization_mode is not None
        }
        if not quantized:
            return policy
        return keras.dtype_policies.DTypePolicyMap(policy, quantized)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
