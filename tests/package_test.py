"""The installable package: version, public names, recipes, dependencies.

What only an installed wheel can show (recipes found outside the source
tree, the extras installing what they say) is CI's packaging check,
.ci/check_package.py.
"""

import os
import subprocess
import sys
import tomllib
from importlib import metadata

import keras
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import keras_transformer
from keras_transformer.cli import main as cli_main
from keras_transformer.recipes import describe_recipes, list_recipes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "pyproject.toml"), "rb") as _file:
    PROJECT = tomllib.load(_file)["project"]


def _constraints():
    pins = {}
    with open(os.path.join(ROOT, "constraints.txt"), encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            line = line.split("#")[0].strip()
            if not line:
                continue
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"constraints.txt:{number}: {line}"
            name = requirement.name.lower().replace("_", "-")
            assert name not in pins, f"constraints.txt:{number}: {name} twice"
            pins[name] = Version(specifier.version)
    return pins


def _requirements(group=None):
    listed = (
        PROJECT["dependencies"]
        if group is None
        else (PROJECT["optional-dependencies"][group])
    )
    return [Requirement(text) for text in listed]


def test_version_is_the_distributions():
    assert keras_transformer.__version__ == PROJECT["version"]
    assert metadata.version("keras-transformer") == PROJECT["version"]


def test_cli_prints_the_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"keras-transformer {PROJECT['version']}"
    )


def test_public_names_resolve_on_first_use():
    from keras_transformer.recipes import load_recipe
    from keras_transformer.training.trainer import train
    from keras_transformer.translator import Translator

    assert keras_transformer.load_recipe is load_recipe
    assert keras_transformer.train is train
    assert keras_transformer.Translator is Translator
    for name in keras_transformer.__all__:
        assert getattr(keras_transformer, name) is not None, name
    assert set(keras_transformer.__all__) <= set(dir(keras_transformer))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        keras_transformer.trian  # noqa: B018


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="on TensorFlow, Keras itself imports TensorFlow",
)
def test_import_loads_neither_tensorflow_nor_the_trainer():
    check = (
        "import sys, keras_transformer\n"
        "loaded = [m for m in ('tensorflow', 'keras_transformer.training') "
        "if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert result.stdout.strip() == ""


def test_the_recipes_are_the_modules_of_the_recipes_package():
    folder = os.path.join(ROOT, "keras_transformer", "recipes")
    files = sorted(
        name[:-3]
        for name in os.listdir(folder)
        if name.endswith(".py") and not name.startswith("_")
    )
    assert list_recipes() == files
    assert {"builtin", "multi30k", "multi30k_cpu", "wmt14_base"} <= set(files)


def test_cli_lists_each_recipe_with_its_summary(capsys):
    assert cli_main(["recipes"]) == 0
    out, err = capsys.readouterr()
    rows = [line.split(None, 1) for line in out.splitlines()]
    assert [name for name, _ in rows] == list_recipes()
    for (name, summary), (_, printed) in zip(describe_recipes(), rows, strict=True):
        assert summary and printed.strip() == summary, name
    assert "keras-transformer train NAME" in err  # the hint is not the list


def test_backends_are_extras_and_never_core():
    core = {requirement.name for requirement in _requirements()}
    assert not core & {"jax", "jaxlib", "torch"}
    assert {"tensorflow", "tensorflow-text", "keras", "keras-hub"} <= core
    assert [r.name for r in _requirements("jax")] == ["jax"]
    assert [r.name for r in _requirements("torch")] == ["torch"]
    assert [r.name for r in _requirements("ctranslate2")] == ["ctranslate2"]
    assert [str(r) for r in _requirements("all")] == [
        "keras-transformer[ctranslate2,jax,torch]"
    ]


def test_every_dependency_has_a_lower_bound_and_a_pin_in_its_range():
    """Ranges with lower bounds; constraints.txt pins each to a version in
    its range, so the set CI tests is one a user's pip could choose."""
    pins = _constraints()
    groups = [None, "jax", "torch", "ctranslate2", "test", "benchmarks"]
    problems = []
    for group in groups:
        for requirement in _requirements(group):
            if requirement.name == "keras-transformer":
                continue
            name = requirement.name.lower()
            if not any(s.operator == ">=" for s in requirement.specifier):
                problems.append(f"{requirement}: no lower bound")
            if name not in pins:
                problems.append(f"{requirement}: not pinned in constraints.txt")
            elif not requirement.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{requirement}: constraints.txt pins {pins[name]}")
    assert not problems, "\n".join(problems)
