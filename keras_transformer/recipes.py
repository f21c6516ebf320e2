"""Recipes: named run configurations, one Python file each in `recipes/`.

A recipe is a file that defines `get_config() -> ExperimentConfig`. Names
resolve to `recipes/<name>.py` beside the package (in the source tree);
any other recipe file is loaded by its path.

Example:

>>> config = load_recipe("builtin")
>>> config.data.corpus
'builtin'
"""

import difflib
import importlib.util
import os
from pathlib import Path

import keras_transformer
from keras_transformer.config import ExperimentConfig

RECIPES_DIR = Path(keras_transformer.__file__).resolve().parent.parent / "recipes"


def list_recipes():
    """The names of the recipes in `recipes/`, sorted."""
    if not RECIPES_DIR.is_dir():
        return []
    return sorted(
        path.stem for path in RECIPES_DIR.glob("*.py") if not path.name.startswith("_")
    )


def recipe_path(name_or_path):
    """The file of a recipe given by name (`"builtin"`) or path (`"my.py"`)."""
    text = os.fspath(name_or_path)
    if text.endswith(".py") or "/" in text or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"No recipe file at {path}.")
        return path
    names = list_recipes()
    if text not in names:
        close = difflib.get_close_matches(text, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        available = ", ".join(names) if names else f"none (no {RECIPES_DIR})"
        raise ValueError(
            f"Unknown recipe {text!r}.{hint} Available recipes: {available}. "
            "Or pass the path of a .py file that defines get_config()."
        )
    return RECIPES_DIR / f"{text}.py"


def load_recipe(name_or_path):
    """Imports a recipe file and returns its `get_config()`.

    Args:
        name_or_path: a name from `list_recipes()`, or the path of a `.py`
            file that defines `get_config() -> ExperimentConfig`.

    Raises:
        ValueError: an unknown name (the message lists the recipes), or a
            file without a `get_config` function.
        FileNotFoundError: a path that is not a file.
        TypeError: `get_config()` returned something else than an
            `ExperimentConfig`.
    """
    path = recipe_path(name_or_path)
    spec = importlib.util.spec_from_file_location(f"_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ValueError(
            f"{path} defines no get_config() function; a recipe is a file with "
            "`def get_config() -> ExperimentConfig`."
        )
    config = get_config()
    if not isinstance(config, ExperimentConfig):
        raise TypeError(
            f"get_config() in {path} returned {type(config).__name__}, not an "
            "ExperimentConfig."
        )
    return config
