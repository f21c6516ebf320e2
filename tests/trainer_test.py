"""train(config, workdir) end to end: every recipe shrunk (each in one
backend's leg), resuming a run (also one written by another backend), and
the CLI's errors."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_transformer.cli import main as cli_main
from keras_transformer.config import apply_overrides
from keras_transformer.recipes import list_recipes, load_recipe
from keras_transformer.training import compiled_transformer
from keras_transformer.training.trainer import train
from keras_transformer.translator import Translator
from tests.data_helpers import make_pairs
from tests.shrunk import TINY


def _write_corpus(directory):
    """A small corpus directory with train/valid/test splits."""
    os.makedirs(directory, exist_ok=True)
    for split, count in (("train", 200), ("valid", 8), ("test2016", 8)):
        pairs = make_pairs(count, seed=len(split))
        for side, language in enumerate(("en", "de")):
            path = os.path.join(directory, f"{split}.{language}")
            with open(path, "w", encoding="utf-8") as file:
                file.writelines(f"{pair[side]}\n" for pair in pairs)
    return directory


def _history(workdir):
    with open(os.path.join(workdir, "history.csv")) as file:
        return list(csv.DictReader(file))


# Each recipe trains in one leg of the suite, the legs taking turns (the
# shortest leg, PyTorch's, first): the recipes differ in data, tokenizer and
# training settings, which no backend reads differently, and every leg
# trains `builtin` in the tests below.
RECIPE_BACKENDS = {
    recipe: ("torch", "jax", "tensorflow")[index % 3]
    for index, recipe in enumerate(list_recipes())
}


@pytest.mark.parametrize("recipe", list_recipes())
def test_every_recipe_shrunk_trains_evaluates_and_saves(recipe, tmp_path):
    backend = RECIPE_BACKENDS[recipe]
    if keras.backend.backend() != backend:
        pytest.skip(f"recipe {recipe} trains in the {backend} leg of the suite")
    config = load_recipe(recipe)
    overrides = list(TINY)
    if config.data.corpus != "builtin":
        overrides.append(f"data.corpus={_write_corpus(tmp_path / 'corpus')}")
    config = apply_overrides(config, overrides)
    results = train(config, tmp_path / "run", verbose=0)
    assert results["steps"] == 3
    assert 0.0 <= results["test"]["bleu"] <= 100.0
    assert results["test"]["bleu_signature"].startswith("nrefs:1|case:mixed")
    with open(tmp_path / "run" / "results.json") as file:
        assert json.load(file)["steps"] == 3
    translator = Translator.load(tmp_path / "run" / "translator")
    assert isinstance(translator.translate("A dog runs."), str)
    history = _history(tmp_path / "run")
    assert len(history) == 1
    assert {"loss", "accuracy", "learning_rate", "val_loss"} <= set(history[0])


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow traces the train step (once per run, or twice when the "
    "first trace creates variables); JAX traces per shape, PyTorch runs it eagerly "
    "by default",
)
def test_tensorflow_traces_the_compiled_models_train_step_once():
    model = compiled_transformer(apply_overrides(load_recipe("builtin"), TINY), 60)
    traces = []
    train_step = model.train_step

    def counted_train_step(data):
        traces.append(data)  # Python runs while TensorFlow traces
        return train_step(data)

    model.train_step = counted_train_step
    ids = np.random.default_rng(0).integers(4, 60, (2, 6, 5)).astype("int32")
    x = {"encoder_token_ids": ids[0], "decoder_token_ids": ids[1]}
    model.fit(x, ids[1], batch_size=2, epochs=2, verbose=0)
    assert len(traces) == 1


def test_running_again_resumes_from_the_backup(tmp_path):
    config = apply_overrides(
        load_recipe("builtin"), TINY + ["train.max_steps=none", "train.epochs=1"]
    )
    first = train(config, tmp_path, verbose=0)
    longer = apply_overrides(config, ["train.epochs=2"])
    second = train(longer, tmp_path, verbose=0)
    assert second["steps"] == 2 * first["steps"]
    epochs = [row["epoch"] for row in _history(tmp_path)]
    assert epochs == ["0", "1"]  # the second run did only the second epoch


def test_a_run_started_on_another_backend_resumes_here(tmp_path):
    other = "jax" if keras.backend.backend() == "torch" else "torch"
    script = (
        "import sys\n"
        "from keras_transformer.config import apply_overrides\n"
        "from keras_transformer.recipes import load_recipe\n"
        "from keras_transformer.training.trainer import train\n"
        f"config = apply_overrides(load_recipe('builtin'), {TINY!r} + "
        "['train.max_steps=none'])\n"
        "print(train(config, sys.argv[1], verbose=0)['steps'])\n"
    )
    started = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    steps_per_epoch = int(started.stdout.strip().splitlines()[-1])
    config = apply_overrides(
        load_recipe("builtin"), TINY + ["train.max_steps=none", "train.epochs=2"]
    )
    results = train(config, tmp_path, verbose=0)
    assert results["steps"] == 2 * steps_per_epoch
    assert results["backend"] == keras.backend.backend()


def test_mixed_precision_and_step_checkpoints_averaged(tmp_path, capsys):
    config = apply_overrides(
        load_recipe("builtin"),
        TINY
        + [
            "train.mixed_precision=mixed_bfloat16",
            "train.max_steps=4",
            "train.backup_every_steps=2",
            "train.keep_checkpoints=2",
            "train.average_last=2",
        ],
    )
    results = train(config, tmp_path, verbose=0)
    assert results["steps"] == 4
    checkpoints = sorted(os.listdir(tmp_path / "checkpoints"))
    assert [n for n in checkpoints if n.startswith("step-")] == [
        "step-0000002.weights.h5",
        "step-0000004.weights.h5",
    ]
    assert "Averaged the weights of the last 2 checkpoints" in capsys.readouterr().out
    translator = Translator.load(tmp_path / "translator")
    # A training checkpoint (optimizer state included) loads over its weights.
    step_2 = Translator.load(
        tmp_path / "translator",
        weights=tmp_path / "checkpoints" / "step-0000002.weights.h5",
    )
    assert isinstance(step_2.translate("A dog runs."), str)
    # The saved translator holds the average of steps 2 and 4, not step 2.
    assert any(
        not np.array_equal(
            keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(saved)
        )
        for mine, saved in zip(
            step_2.model.weights, translator.model.weights, strict=True
        )
    )
    # Variables stay float32 under the mixed policy; the saved model says so.
    assert translator.model.dtype_policy.name == "mixed_bfloat16"
    assert {v.dtype for v in translator.model.trainable_variables} == {"float32"}
    assert isinstance(translator.translate("A dog runs."), str)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "builtin", "--set", "train.epoch=3"], "train.epochs"),
        (["train", "builtin", "--set", "model.num_layers=2.5"], "model.num_layers"),
        (["train", "no_such_recipe"], "builtin"),
        (["translate", "no/such/translator", "hello"], "not a saved translator"),
        (["translate", "t", "--num-beams", "2", "--bogus", "hi"], "--bogus"),
        (["evaluate", "t", "extra"], "unrecognized arguments: extra"),
    ],
)
def test_cli_errors_name_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_help_lists_every_configuration_key(capsys):
    with pytest.raises(SystemExit):
        cli_main(["train", "--help"])
    shown = capsys.readouterr().out
    for key in ("model.num_layers", "train.warmup_steps", "decode.num_beams"):
        assert key in shown
