import numpy as np
import pytest

from keras_transformer.cli import build_parser
from keras_transformer.demo import END, PAD, START, make_reversal_data


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


def test_cli_rejects_unknown_commands_and_bad_values(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fly"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--epochs", "many"])
    assert "invalid int value" in capsys.readouterr().err
