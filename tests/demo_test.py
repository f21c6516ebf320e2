import numpy as np
import pytest

from keras_transformer import Transformer
from keras_transformer.cli import build_parser
from keras_transformer.demo import (
    END,
    PAD,
    START,
    VOCABULARY_SIZE,
    greedy_translate,
    make_reversal_data,
)
from tests.harness import to_numpy


def test_reversal_data_is_teacher_forced_and_padded():
    inputs, labels, weights = make_reversal_data(64, 8, seed=0)
    source, decoder_inputs = inputs["encoder_token_ids"], inputs["decoder_token_ids"]
    assert np.all(decoder_inputs[:, 0] == START)
    np.testing.assert_array_equal(
        decoder_inputs[:, 1:], labels[:, :-1] * (labels[:, :-1] != END)
    )
    for row in range(64):
        digits = source[row][source[row] != PAD]
        target = labels[row][labels[row] != PAD]
        np.testing.assert_array_equal(target, np.concatenate([digits[::-1], [END]]))
    np.testing.assert_array_equal(weights, labels != PAD)


def test_cached_greedy_equals_greedy_by_full_forward_passes():
    model = Transformer(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        dropout=0.0,
    )
    inputs, _, _ = make_reversal_data(4, 6, seed=3)
    source = inputs["encoder_token_ids"]
    cached = greedy_translate(model, source, max_length=5)
    prefix = np.full((4, 1), START, "int32")
    for _ in range(5):
        logits = to_numpy(
            model({"encoder_token_ids": source, "decoder_token_ids": prefix})
        )
        prefix = np.concatenate([prefix, logits[:, -1:].argmax(-1).astype("int32")], 1)
    np.testing.assert_array_equal(cached, prefix[:, 1:])


def test_cli_rejects_unknown_commands_and_bad_values(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fly"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--epochs", "many"])
    assert "invalid int value" in capsys.readouterr().err
