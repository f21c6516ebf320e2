"""Residual connection around a sub-layer, post-LN (paper) or pre-LN.

Vaswani et al. 2017, §3.1 and §5.4: the output of each sub-layer is
`LayerNorm(x + Dropout(Sublayer(x)))` (post-LN). Pre-LN,
`x + Dropout(Sublayer(LayerNorm(x)))`, trains deep stacks without warmup
(Xiong et al. 2020) and needs a final layer norm after the stack.
"""


def sublayer_input(inputs, layer_norm, normalize_first):
    """What the sub-layer sees: the normalized inputs under pre-LN."""
    return layer_norm(inputs) if normalize_first else inputs


def sublayer_output(
    residual, sublayer_outputs, layer_norm, dropout, normalize_first, training
):
    """Adds the dropped-out sub-layer output to the residual (and normalizes)."""
    outputs = residual + dropout(sublayer_outputs, training=training)
    return outputs if normalize_first else layer_norm(outputs)
