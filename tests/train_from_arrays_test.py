"""benchmarks/train_from_arrays.py: prepare batches with TensorFlow, fit and
search in a process where TensorFlow cannot be imported, score and rebuild
the translator from the fitted weights."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_transformer.special_tokens import END_ID, PAD_ID
from keras_transformer.translator import Translator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "train_from_arrays.py")
TINY = [
    f"--set={key}"
    for key in (
        "model.preset=none",
        "model.num_layers=1",
        "model.num_heads=2",
        "model.hidden_dim=16",
        "model.intermediate_dim=32",
        "data.vocabulary_size=60",
        "data.builtin_train_size=64",
        "data.builtin_valid_size=6",
        "data.builtin_test_size=5",
        "data.token_budget=512",
        "data.max_length=48",
        "train.epochs=3",
        "train.warmup_steps=10",
        "train.mixed_precision=float32",
        "train.gradient_accumulation_steps=none",
        "train.keep_checkpoints=2",
        "train.average_last=2",
        "decode.num_beams=2",
        "decode.max_length_offset=4",
    )
]
# Runs a script as if TensorFlow (and the packages built on it) were not
# installed: a None in sys.modules makes the import fail and find_spec
# return None.
WITHOUT_TENSORFLOW = textwrap.dedent(
    """
    import runpy, sys

    for name in ("tensorflow", "tensorflow_text", "keras_hub"):
        sys.modules[name] = None
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
    """
)


def _run_without_tensorflow(arguments):
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, SCRIPT] + arguments,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-3000:]
    )
    return completed.stdout


def _run_here(arguments, monkeypatch, capsys):
    """Runs the script's main in this process (the TensorFlow steps)."""
    spec = importlib.util.spec_from_file_location("train_from_arrays", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", [SCRIPT] + arguments)
    capsys.readouterr()
    script.main()
    return capsys.readouterr().out


def _ragged(path):
    with np.load(path) as data:
        return np.split(data["values"], np.cumsum(data["lengths"])[:-1])


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="fitting without TensorFlow needs the JAX or PyTorch backend",
)
def test_prepare_fit_without_tensorflow_score_and_rebuild(
    tmp_path, monkeypatch, capsys
):
    prepared, fitted = str(tmp_path / "prepared"), str(tmp_path / "fitted")
    _run_here(
        ["prepare", "builtin", "--out", prepared, "--epochs-of-batches", "2"] + TINY,
        monkeypatch,
        capsys,
    )
    with open(os.path.join(prepared, "meta.json")) as file:
        meta = json.load(file)
    assert meta["train_pairs"] > 0
    assert meta["train_pairs"] + meta["dropped_too_long"] == 64
    assert [len(meta["references"][s]) for s in ("valid", "test")] == [6, 5]
    with np.load(os.path.join(prepared, "train_batches.npz")) as batches:
        per_epoch = [
            sorted(k for k in batches.files if k.startswith(f"epoch{e:03d}_"))
            for e in range(2)
        ]
        assert len(per_epoch[0]) == len(per_epoch[1]) == 3 * meta["batches_per_epoch"]
        first = [batches[k] for k in per_epoch[0] if k.endswith("_encoder")]
        second = [batches[k] for k in per_epoch[1] if k.endswith("_encoder")]
    # Each prepared epoch is a new shuffle of the same pairs.
    tokens = [np.sort(np.concatenate([b.ravel() for b in e])) for e in (first, second)]
    np.testing.assert_array_equal(tokens[0][tokens[0] > 0], tokens[1][tokens[1] > 0])
    assert any(
        a.shape != b.shape or (a != b).any() for a, b in zip(first, second, strict=True)
    )

    printed = _run_without_tensorflow(["fit", prepared, "--out", fitted])
    assert "Averaged epoch-0002.weights.h5, epoch-0003.weights.h5." in printed
    with open(os.path.join(fitted, "results.json")) as file:
        results = json.load(file)
    assert results["steps"] == 3 * meta["batches_per_epoch"]
    hypotheses = _ragged(os.path.join(fitted, "test_hypotheses.npz"))
    assert len(hypotheses) == 5

    translator_dir = str(tmp_path / "translator")
    printed = _run_here(
        ["score", prepared, fitted, "--translator", translator_dir],
        monkeypatch,
        capsys,
    )
    assert "test: BLEU" in printed and "on 5 sentences" in printed
    # The rebuilt translator, given the fitted (averaged) weights, searches
    # exactly what the fit process searched.
    translator = Translator.load(translator_dir)
    sources = _ragged(os.path.join(prepared, "test_sources.npz"))
    token_ids, _ = translator.search(sources)
    for searched, written in zip(token_ids, hypotheses, strict=True):
        row = list(searched[0])
        for stop in (END_ID, PAD_ID):
            row = row[: row.index(stop)] if stop in row else row
        assert row == list(written)
