"""Attention and training-curve plots, and the `attention` and `plot-history`
commands that write them."""

import struct

import keras
import numpy as np
import pytest

from keras_transformer.cli import main
from keras_transformer.diagnostics import (
    KINDS,
    monitor_inputs,
    plot_alignment,
    plot_head_grid,
    translation_attention,
)
from keras_transformer.special_tokens import START_ID
from keras_transformer.translator import Translator
from tests.data_helpers import make_pairs
from tests.tiny import tiny_transformer

SENTENCE = "The dog runs in the park."


@pytest.fixture
def translator(tokenizer):
    keras.utils.set_random_seed(5)
    model = tiny_transformer(tokenizer.vocabulary_size, num_layers=2)
    return Translator(model, tokenizer, num_beams=1, max_length_offset=4)


def _png_size(path):
    """(width, height) from the PNG header; fails on anything but a PNG."""
    with open(path, "rb") as file:
        header = file.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def _assert_image(path, min_width=300, min_height=200):
    width, height = _png_size(path)
    assert width >= min_width and height >= min_height, (width, height)
    assert path.stat().st_size > 5_000


def test_attention_command_translates_and_writes_the_alignment(
    translator, tmp_path, capsys
):
    translator.save(tmp_path / "translator")
    output = tmp_path / "plots" / "alignment.png"
    code = main(
        ["attention", "--model", str(tmp_path / "translator"), SENTENCE]
        + ["-o", str(output)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith(SENTENCE) and f"Wrote {output}" in printed
    _assert_image(output)


def test_alignment_labels_match_the_weights_and_every_plot_is_written(
    translator, tmp_path
):
    attention = translation_attention(translator, SENTENCE, "Der Hund läuft.")
    source_ids = translator.source_tokenizer.tokenize(SENTENCE)
    assert len(attention.source_pieces) == len(source_ids)
    assert attention.target_pieces[-1] == "</s>"
    assert "".join(attention.target_pieces[:-1]).replace("▁", " ").strip() == (
        "Der Hund läuft."
    )
    for weights in attention.maps.decoder_cross:
        assert weights.shape == (
            1,
            2,
            len(attention.target_pieces),
            len(attention.source_pieces),
        )
    paths = [
        plot_alignment(attention, tmp_path / "heads.png", layer=0),
        plot_alignment(attention, tmp_path / "layers.png", average_layers=True),
    ]
    paths += [
        plot_head_grid(attention.maps, tmp_path / f"{kind}.png", kind) for kind in KINDS
    ]
    for path in paths:
        _assert_image(path, min_width=200, min_height=150)
    with pytest.raises(ValueError, match="out of range"):
        plot_alignment(attention, tmp_path / "x.png", layer=2)


HISTORY = """epoch,accuracy,learning_rate,loss,val_accuracy,val_bleu,val_chrf,val_loss,\
attention/decoder_cross_0/head_entropy_mean,attention/flagged_heads
0,0.23,0.0015,5.08,0.58,11.6,23.3,3.25,0.71,0
1,0.71,0.0030,2.37,0.87,59.5,67.0,1.80,0.52,0
2,0.90,0.0026,1.49,0.96,85.5,92.7,1.30,NA,NA
"""


def test_plot_history_command_draws_the_curves(tmp_path, capsys):
    (tmp_path / "history.csv").write_text(HISTORY)
    output = tmp_path / "curves.png"
    assert main(["plot-history", str(tmp_path), "-o", str(output)]) == 0
    assert f"Wrote {output}" in capsys.readouterr().out
    _assert_image(output, min_width=600, min_height=300)


def test_plot_history_on_a_directory_without_history_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["plot-history", str(tmp_path), "-o", str(tmp_path / "c.png")])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "keras-transformer plot-history: error: No training history" in error
    assert not (tmp_path / "c.png").exists()


def test_monitor_inputs_are_start_prefixed_padded_batches(tokenizer):
    pairs = make_pairs(40)
    batch = monitor_inputs(pairs, tokenizer, size=8, max_length=12)
    sources, decoder = batch["encoder_token_ids"], batch["decoder_token_ids"]
    assert sources.shape[0] == decoder.shape[0] == 8
    assert sources.dtype == decoder.dtype == np.int32
    assert max(sources.shape[1], decoder.shape[1]) <= 12
    assert np.all(decoder[:, 0] == START_ID)
    first = tokenizer.tokenize(pairs[0][1])[:11]
    np.testing.assert_array_equal(decoder[0, 1 : 1 + len(first)], first)
