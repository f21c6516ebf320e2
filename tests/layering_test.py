"""The package's layers: each module imports only downward, and no cycles.

Read from the source with `ast`, imports inside functions included, so a
change that makes a low layer reach up (the data pipeline importing the
trainer, say) fails here with the module and line that does it.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "keras_transformer"

# Lower ranks are imported by higher ones, never the other way; modules of
# one package (keras_transformer.data.*) may import each other.
RANKS = {
    "keras_transformer.special_tokens": 0,
    "keras_transformer.typed_fields": 0,
    "keras_transformer.atomic": 0,
    "keras_transformer.weights_file": 0,
    "keras_transformer.layers": 1,
    "keras_transformer.models": 2,
    "keras_transformer.fit_hooks": 2,
    "keras_transformer": 3,  # the package's own __init__: version, re-exports
    "keras_transformer.data": 3,
    "keras_transformer.decoding": 3,
    "keras_transformer.diagnostics": 3,
    "keras_transformer.distribution": 3,
    "keras_transformer.config": 4,
    "keras_transformer.translator": 4,
    "keras_transformer.demo": 4,
    "keras_transformer.recipes": 5,
    "keras_transformer.evaluation": 5,
    "keras_transformer.export": 5,
    "keras_transformer.ctranslate2_export": 5,
    "keras_transformer.training": 6,
    "keras_transformer.cli": 7,
}
# Packages whose code runs on every backend through keras and keras.ops, and
# the two modules in them that compile with torch (a search step; the train
# step, whose `GuardedOnce` the search step's compiler shares).
KERAS_ONLY = ("layers", "models", "decoding", "training", "diagnostics", "fit_hooks")
BACKEND_MODULES = {"tensorflow", "jax", "jaxlib", "torch"}
BACKEND_EXCEPTIONS = {
    "keras_transformer.decoding.step_compiler",
    "keras_transformer.models.train_step_compiler",
}


def _modules():
    """{module name: path} of every module of the package."""
    modules = {}
    for directory, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            parts = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(path):
    """(line, imported module) of every import in the file."""
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            for alias in node.names:  # `from package import module`
                if f"{node.module}.{alias.name}" in MODULES:
                    yield node.lineno, f"{node.module}.{alias.name}"


def _unit(module):
    """The entry of RANKS a module belongs to."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_every_module_has_a_rank():
    assert {_unit(module) for module in MODULES} <= set(RANKS)


def test_each_module_imports_only_lower_layers():
    problems = []
    for module, path in sorted(MODULES.items()):
        unit = _unit(module)
        for line, imported in _imports(path):
            if imported.split(".")[0] != PACKAGE or _unit(imported) == unit:
                continue
            if RANKS[_unit(imported)] >= RANKS[unit]:
                problems.append(
                    f"{os.path.relpath(path, ROOT)}:{line}: {unit} (rank "
                    f"{RANKS[unit]}) imports {imported} (rank "
                    f"{RANKS[_unit(imported)]})"
                )
    assert not problems, "imports that reach up:\n" + "\n".join(problems)


def test_no_import_cycles():
    graph = {
        module: {
            imported
            for _, imported in _imports(path)
            if imported in MODULES and imported != module
        }
        for module, path in MODULES.items()
    }
    state, cycles = {}, []

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                cycles.append(" -> ".join(path[path.index(imported) :] + [imported]))
            elif imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("package", KERAS_ONLY)
def test_keras_only_packages_import_no_backend(package):
    problems = []
    for module, path in sorted(MODULES.items()):
        if not module.startswith(f"{PACKAGE}.{package}"):
            continue
        if module in BACKEND_EXCEPTIONS:
            continue
        for line, imported in _imports(path):
            if imported.split(".")[0] in BACKEND_MODULES:
                problems.append(f"{os.path.relpath(path, ROOT)}:{line}: {imported}")
    assert not problems, "backend imports:\n" + "\n".join(problems)


def test_diagnostics_read_other_objects_through_public_names():
    """Diagnostics see the model as a user would: `encoder.blocks`,
    `block.self_attention`, `attention.output_dense`, never `x._private`."""
    problems = []
    for module, path in sorted(MODULES.items()):
        if not module.startswith(f"{PACKAGE}.diagnostics"):
            continue
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id == "self")
            ):
                problems.append(
                    f"{os.path.relpath(path, ROOT)}:{node.lineno}: .{node.attr}"
                )
    assert not problems, "private attributes of other objects:\n" + "\n".join(problems)
