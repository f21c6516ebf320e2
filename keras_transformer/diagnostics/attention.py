"""Attention weights of every layer and head of a `Transformer`, and their
per-head statistics (entropy, share of the output).

A model trained with fused attention (`keras.ops.dot_product_attention`)
never materializes its weights. `extract_attention` runs a second forward
pass, block by block, with `return_attention_scores=True`, which makes every
`MultiHeadAttention` take its explicit path (Vaswani et al. 2017, §3.2.1,
eq. 1, softmax in float32). Both paths compute the same function, so the
weights are those of the fast model, and the pass also returns the logits so
that this can be checked. It uses `keras.ops` and the layers' public
properties only (`encoder.blocks`, `block.self_attention`,
`attention.output_dense`, ...): the numbers are the same on every backend.
The pass is a small `keras.Model` run with `predict_on_batch`, so it is
compiled where the backend compiles (eagerly when the model trains under a
distribution); an `AttentionExtractor` keeps it for the batches it is given.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_transformer.layers.residual import sublayer_input

KINDS = ("encoder_self", "decoder_self", "decoder_cross")


@dataclasses.dataclass
class AttentionMaps:
    """The attention weights of one forward pass, as numpy arrays.

    Attributes:
        encoder_self: per encoder layer, `(batch, num_heads, S, S)`.
        decoder_self: per decoder layer, `(batch, num_heads, T, T)`.
        decoder_cross: per decoder layer, `(batch, num_heads, T, S)`.
        head_norms: per kind, per layer, `(batch, num_heads, queries)`: the
            norm of each head's contribution to the layer output,
            `‖A_h V_h W^O_h‖` (its slice of the output projection; Kobayashi
            et al. 2020, "Attention is not only a weight").
        encoder_padding_mask: `(batch, S)` bool, `True` at real tokens.
        decoder_padding_mask: `(batch, T)` bool.
        logits: `(batch, T, target_vocabulary_size)` from the same pass.
    """

    encoder_self: list
    decoder_self: list
    decoder_cross: list
    head_norms: dict
    encoder_padding_mask: np.ndarray
    decoder_padding_mask: np.ndarray
    logits: np.ndarray

    def weights(self, kind):
        """The list of per-layer weights of `kind` (one of `KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"Unknown attention kind {kind!r}; one of {KINDS}.")
        return getattr(self, kind)

    def valid_pairs(self, kind):
        """Boolean `(batch, 1, queries, keys)`: the pairs the layer may attend,
        `True` where the query is a real token and the key is a real token
        (and, for decoder self-attention, not in the query's future)."""
        if kind == "encoder_self":
            queries = keys = self.encoder_padding_mask
        elif kind == "decoder_self":
            queries = keys = self.decoder_padding_mask
        else:
            queries, keys = self.decoder_padding_mask, self.encoder_padding_mask
        pairs = queries[:, :, None] & keys[:, None, :]
        if kind == "decoder_self":
            pairs = pairs & np.tril(np.ones((len(keys[0]),) * 2, bool))
        return pairs[:, None]


def _head_output_norms(attention, weights, value_input):
    """`(batch, num_heads, T)`: the norm of each head's term in the output."""
    _, values = attention.compute_key_value_cache(value_input)  # (B, N, S, H)
    mixed = ops.einsum("bnts,bnsh->btnh", weights, ops.cast(values, "float32"))
    kernel = ops.cast(attention.output_dense.kernel, "float32")  # (N * H, D)
    kernel = ops.reshape(kernel, (attention.num_heads, attention.value_dim, -1))
    per_head = ops.einsum("btnh,nhd->btnd", mixed, kernel)  # (B, T, N, D)
    return ops.transpose(ops.norm(per_head, axis=-1), (0, 2, 1))


def _numpy(arrays):
    return [np.asarray(a) for a in arrays]


class _AttentionPass(keras.Model):
    """The model's forward pass, block by block, returning every layer's
    attention weights and per-head output norms. A `keras.Model`, so that
    `predict_on_batch` compiles it where the backend compiles (XLA on JAX,
    `tf.function` on TensorFlow) instead of running op by op."""

    def __init__(self, transformer):
        super().__init__(name="attention_pass")
        self.transformer = transformer

    def call(self, inputs):
        model = self.transformer
        encoder_ids = ops.cast(inputs["encoder_token_ids"], "int32")
        decoder_ids = ops.cast(inputs["decoder_token_ids"], "int32")
        encoder_mask = ops.cast(inputs["encoder_padding_mask"], "bool")
        decoder_mask = ops.cast(inputs["decoder_padding_mask"], "bool")
        weights = {kind: [] for kind in KINDS}
        norms = {kind: [] for kind in KINDS}

        # Embedding dropout is off at inference, so it is left out.
        x = model.encoder_position_encoding(model.encoder_token_embedding(encoder_ids))
        for block in model.encoder.blocks:
            value_input = sublayer_input(
                x, block.self_attention_layer_norm, block.normalize_first
            )
            x, scores = block(
                x, padding_mask=encoder_mask, return_attention_scores=True
            )
            weights["encoder_self"].append(scores)
            norms["encoder_self"].append(
                _head_output_norms(block.self_attention, scores, value_input)
            )
        encoder_output = model.encoder.normalize_output(x)

        x = model.decoder_position_encoding(model.decoder_token_embedding(decoder_ids))
        for block in model.decoder.blocks:
            value_input = sublayer_input(
                x, block.self_attention_layer_norm, block.normalize_first
            )
            x, scores = block(
                x,
                encoder_output,
                decoder_padding_mask=decoder_mask,
                encoder_padding_mask=encoder_mask,
                return_attention_scores=True,
            )
            for kind, key, values in (
                ("decoder_self", "self_attention", value_input),
                ("decoder_cross", "cross_attention", encoder_output),
            ):
                weights[kind].append(scores[key])
                layer = getattr(block, key)  # block.self_attention, .cross_attention
                norms[kind].append(_head_output_norms(layer, scores[key], values))
        x = model.decoder.normalize_output(x)
        logits = model.decoder_token_embedding(x, reverse=True)
        return {"weights": weights, "norms": norms, "logits": logits}


def _distributed(model):
    """Whether `model` trains under a distribution (a TensorFlow strategy
    with several replicas, or a `keras.distribution` on JAX)."""
    strategy = getattr(model, "distribute_strategy", None)
    replicas = getattr(strategy, "num_replicas_in_sync", 1)
    return replicas > 1 or keras.distribution.distribution() is not None


class AttentionExtractor:
    """Runs a `Transformer` through the explicit attention path, batch after
    batch, compiling that pass once (a monitor measures with one every epoch).

    Args:
        model: a `keras_transformer.models.Transformer` (fused attention on
            or off: the weights are the same).

    Call arguments:
        inputs: the model's input dict, `encoder_token_ids` and
            `decoder_token_ids` (the target shifted right, start token first),
            plus the two padding masks when the model takes them; missing
            masks are derived from `model.padding_id`.

    Returns:
        `AttentionMaps`. Every row of weights sums to 1 over the keys it may
        attend (padding and future keys get 0).
    """

    def __init__(self, model):
        self.model = model
        self._pass = _AttentionPass(model)

    def __call__(self, inputs):
        batch = {}
        for side in ("encoder", "decoder"):
            ids = np.asarray(inputs[f"{side}_token_ids"], "int32")
            mask = inputs.get(f"{side}_padding_mask")
            mask = ids != self.model.padding_id if mask is None else np.asarray(mask)
            batch[f"{side}_token_ids"] = ids
            batch[f"{side}_padding_mask"] = mask.astype(bool)
        if _distributed(self.model):
            # A compiled pass would be replicated too: run it eagerly instead.
            outputs = keras.tree.map_structure(ops.convert_to_numpy, self._pass(batch))
        else:
            outputs = self._pass.predict_on_batch(batch)
        return AttentionMaps(
            **{kind: _numpy(outputs["weights"][kind]) for kind in KINDS},
            head_norms={kind: _numpy(outputs["norms"][kind]) for kind in KINDS},
            encoder_padding_mask=batch["encoder_padding_mask"],
            decoder_padding_mask=batch["decoder_padding_mask"],
            logits=np.asarray(outputs["logits"]),
        )


def extract_attention(model, inputs):
    """Runs `model` once through the explicit attention path.

    `AttentionExtractor(model)(inputs)`: keep an `AttentionExtractor` to
    extract from many batches without compiling the pass again.

    Example:

    >>> model = Transformer.from_preset("transformer_tiny", vocabulary_size=50)
    >>> maps = extract_attention(
    ...     model,
    ...     {
    ...         "encoder_token_ids": np.array([[5, 6, 7, 0]]),
    ...         "decoder_token_ids": np.array([[2, 8, 9]]),
    ...     },
    ... )
    >>> maps.decoder_cross[0].shape  # (batch, num_heads, T, S)
    (1, 4, 3, 4)
    """
    return AttentionExtractor(model)(inputs)


@dataclasses.dataclass
class HeadStatistics:
    """Per-head statistics of one attention layer on a batch.

    Attributes:
        entropy: `(batch, num_heads)` normalized entropy, see
            `attention_statistics`.
        share: `(batch, num_heads)` each head's share of the output norm.
        focus: `(batch, num_heads)` normalized entropy of the attention each
            key receives, averaged over queries: near 0 when every query
            looks at the same key (a head stuck on one token).
    """

    entropy: np.ndarray
    share: np.ndarray
    focus: np.ndarray


def _normalized_entropy(probabilities, support, axis=-1):
    """Entropy / log(support), 0 where support < 2."""
    logs = np.log(np.where(probabilities > 0, probabilities, 1.0))
    entropy = -np.sum(probabilities * logs, axis=axis)
    scale = np.log(np.maximum(support, 2))
    return np.where(support >= 2, entropy / scale, 0.0)


def attention_statistics(maps, kind, layer):
    """Normalized entropy, output share and focus of each head of one layer.

    Normalized entropy of a query row: `H(a) / log(S_valid)`, where `S_valid`
    is the number of keys that query may attend (so 0 = all weight on one
    key, 1 = uniform over the allowed keys); a head's value is the mean over
    the real query positions with `S_valid >= 2`. The share of head `h` at a
    query is `‖A_h V_h W^O_h‖ / Σ_h' ‖A_h' V_h' W^O_h'‖`, averaged over the
    real queries; shares sum to 1 over heads (`1 / num_heads` each when
    balanced).

    Args:
        maps: `AttentionMaps` from `extract_attention`.
        kind: one of `KINDS`.
        layer: the layer index.

    Returns:
        `HeadStatistics`.
    """
    weights = maps.weights(kind)[layer].astype("float64")  # (B, N, T, S)
    valid = maps.valid_pairs(kind)  # (B, 1, T, S)
    support = valid.sum(-1)  # (B, 1, T)
    queries = support >= 2
    count = np.maximum(queries.sum(-1), 1)  # (B, 1)
    row_entropy = _normalized_entropy(np.where(valid, weights, 0.0), support)
    entropy = np.sum(np.where(queries, row_entropy, 0.0), -1) / count

    real = valid.any(-1)  # (B, 1, T): real query positions
    norms = maps.head_norms[kind][layer].astype("float64")  # (B, N, T)
    total = np.maximum(norms.sum(1, keepdims=True), 1e-12)
    share = np.sum(np.where(real, norms / total, 0.0), -1)
    share = share / np.maximum(real.sum(-1), 1)

    received = np.sum(np.where(real[..., None], weights, 0.0), 2)  # (B, N, S)
    received = received / np.maximum(received.sum(-1, keepdims=True), 1e-12)
    focus = _normalized_entropy(received, valid.any(2).sum(-1))
    return HeadStatistics(entropy=entropy, share=share, focus=focus)


def layer_names(maps):
    """`(kind, layer, name)` for every attention layer, e.g.
    `("decoder_cross", 2, "decoder_cross_2")`."""
    return [
        (kind, index, f"{kind}_{index}")
        for kind in KINDS
        for index in range(len(maps.weights(kind)))
    ]
