"""Recipes: named run configurations, shipped with the package.

A recipe is a module that defines `get_config() -> ExperimentConfig`; the
first line of its docstring says what it trains. The modules of this package
are the recipes every install has (`list_recipes()`, `keras-transformer
recipes`); a recipe of your own is any `.py` file that defines
`get_config()`, loaded by its path.

Example:

>>> config = load_recipe("builtin")
>>> config.data.corpus
'builtin'
"""

import difflib
import importlib
import importlib.util
import os
import pkgutil
from pathlib import Path

from keras_transformer.config import ExperimentConfig


def list_recipes():
    """The names of the recipes shipped with the package, sorted."""
    return sorted(
        module.name
        for module in pkgutil.iter_modules(__path__)
        if not module.name.startswith("_")
    )


def describe_recipes():
    """`(name, summary)` of each shipped recipe: its docstring's first line."""
    described = []
    for name in list_recipes():
        module = importlib.import_module(f"{__name__}.{name}")
        summary = (module.__doc__ or "").strip().splitlines()
        described.append((name, summary[0] if summary else ""))
    return described


def _is_path(name_or_path):
    text = os.fspath(name_or_path)
    return text.endswith(".py") or "/" in text or os.sep in text


def _recipe_module(name_or_path):
    """Imports a recipe given by name (`"builtin"`) or path (`"my.py"`)."""
    if _is_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"No recipe file at {path}.")
        spec = importlib.util.spec_from_file_location(f"_recipe_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module, str(path)
    name = os.fspath(name_or_path)
    names = list_recipes()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown recipe {name!r}.{hint} Available recipes: "
            f"{', '.join(names)} (`keras-transformer recipes` describes them). "
            "Or pass the path of a .py file that defines get_config()."
        )
    module = importlib.import_module(f"{__name__}.{name}")
    return module, module.__file__


def load_recipe(name_or_path):
    """Returns a recipe's `get_config()`.

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
    module, where = _recipe_module(name_or_path)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ValueError(
            f"{where} defines no get_config() function; a recipe is a file with "
            "`def get_config() -> ExperimentConfig`."
        )
    config = get_config()
    if not isinstance(config, ExperimentConfig):
        raise TypeError(
            f"get_config() in {where} returned {type(config).__name__}, not an "
            "ExperimentConfig."
        )
    return config
