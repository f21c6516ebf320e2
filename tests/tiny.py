"""The small Transformers the tests build, and the trained one of the
decoding fixture."""

import json
import os

import numpy as np

from keras_transformer import Transformer

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# One block of width 16: a model that builds and trains in a blink.
TINY_ARCHITECTURE = {
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 16,
    "intermediate_dim": 32,
}


def tiny_transformer(vocabulary_size, **overrides):
    """`Transformer` of TINY_ARCHITECTURE; keyword arguments override it
    (dropout keeps the `Transformer` default unless given)."""
    return Transformer(
        vocabulary_size=vocabulary_size, **{**TINY_ARCHITECTURE, **overrides}
    )


def decoding_fixture():
    """`fixtures/decoding.npz`: a digit-reversal model's configuration and
    weights, sources, and their greedy and beam outputs."""
    return np.load(os.path.join(FIXTURES, "decoding.npz"))


def fixture_model(fixture):
    """The trained model stored in the decoding fixture."""
    model = Transformer(**json.loads(str(fixture["config"])))
    for variable in model.weights:
        variable.assign(fixture[f"weight/{variable.path}"])
    return model


def fixture_model_as_ctranslate2(directory):
    """The decoding fixture's model (post-LN, sinusoidal positions, one tied
    vocabulary) saved as a CTranslate2 model in `directory`, with pieces
    `<pad> <unk> <s> </s> d0 d1 ...` (needs `ctranslate2`).

    Returns:
        `(fixture, model, pieces)`.
    """
    from keras_transformer.ctranslate2_export import transformer_spec

    fixture = decoding_fixture()
    model = fixture_model(fixture)
    pieces = ["<pad>", "<unk>", "<s>", "</s>"]
    pieces += [f"d{i}" for i in range(model.vocabulary_size - len(pieces))]
    spec = transformer_spec(model, pieces, pieces, positions=64)
    spec.validate()
    spec.optimize()
    spec.save(str(directory))
    return fixture, model, pieces
