"""CI's packaging check: the wheel works outside the source tree.

1. Builds the wheel and checks that it holds every file git tracks under
   keras_transformer/ (recipes and data files included; lint configuration
   excepted).
2. Installs it with the JAX extra into a fresh virtual environment, with
   constraints.txt; `pip check` must be clean, and torch must not have come
   along (a JAX user never installs PyTorch).
3. From an empty directory outside the checkout: `keras-transformer recipes`
   lists every recipe of the source tree, `train builtin` (shrunk to a few
   updates by tests/shrunk.py), `translate` and `export` run, and the package
   imported is the installed one at the wheel's version.
4. Adds the torch extra (`pip check` clean again), imports the package under
   each backend and translates with the JAX-trained translator on PyTorch.

    python .ci/check_package.py [--python python3.12] [--keep DIR]

Exits 1 with the failing step's output on any failure.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.shrunk import set_arguments  # noqa: E402

# Tracked files under keras_transformer/ that the wheel need not hold.
NOT_SHIPPED = {"ruff.toml"}


class CheckFailed(Exception):
    pass


def step(message):
    print(f"== packaging: {message}", flush=True)


def run(command, cwd=None, env=None, expect_failure=False):
    """Runs a command; returns its stdout. Raises CheckFailed on a bad exit."""
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    print(f"   $ {shlex.join(command)}  ({seconds:.0f} s)", flush=True)
    if (result.returncode == 0) == expect_failure:
        raise CheckFailed(
            f"`{shlex.join(command)}` exited with {result.returncode}"
            f"{' (expected a failure)' if expect_failure else ''}.\n"
            f"--- stdout:\n{result.stdout[-4000:]}\n--- stderr:\n"
            f"{result.stderr[-4000:]}"
        )
    return result.stdout


def build_wheel(python, out):
    step("build the wheel")
    run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, ROOT])
    (wheel,) = [name for name in os.listdir(out) if name.endswith(".whl")]
    return os.path.join(out, wheel)


def check_wheel_contents(wheel):
    step("the wheel holds every tracked package file")
    tracked = run(["git", "ls-files", "keras_transformer"], cwd=ROOT).split()
    expected = {path for path in tracked if os.path.basename(path) not in NOT_SHIPPED}
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = sorted(expected - shipped)
    if missing:
        raise CheckFailed(
            f"{os.path.basename(wheel)} lacks {len(missing)} file(s) of the "
            f"package: {', '.join(missing)}. Declare data files in pyproject.toml "
            "([tool.setuptools.package-data]), and give new folders an __init__.py."
        )
    print(f"   {len(expected)} files, all in the wheel")


def source_recipes():
    folder = os.path.join(ROOT, "keras_transformer", "recipes")
    return sorted(
        name[:-3]
        for name in os.listdir(folder)
        if name.endswith(".py") and not name.startswith("_")
    )


def check_installed(venv, wheel, workdir):
    bin_dir = os.path.join(venv, "bin")
    python = os.path.join(bin_dir, "python")
    cli = os.path.join(bin_dir, "keras-transformer")
    constraints = os.path.join(ROOT, "constraints.txt")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    env.pop("PYTHONPATH", None)

    step("install the wheel with the jax extra into a fresh venv")
    pip = [python, "-m", "pip", "install", "--quiet", "-c", constraints]
    run(pip + [f"{wheel}[jax]"], cwd=workdir)
    run([python, "-m", "pip", "check"], cwd=workdir)
    run([python, "-c", "import torch"], cwd=workdir, expect_failure=True)
    print("   pip check clean; torch not installed")

    step("the installed package, outside the checkout")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        version = tomllib.load(file)["project"]["version"]
    show = "import keras_transformer as k; print(k.__file__, k.__version__)"
    where = run([python, "-c", show], cwd=workdir, env=env).split()
    if not where[0].startswith(venv) or where[1] != version:
        raise CheckFailed(
            f"Imported keras_transformer {where[1]} from {where[0]}; expected "
            f"version {version} from the venv {venv}."
        )
    listed = run([cli, "recipes"], cwd=workdir, env=env)
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    if names != source_recipes():
        raise CheckFailed(
            f"`keras-transformer recipes` lists {names}; the source tree has "
            f"{source_recipes()}."
        )
    print(f"   recipes: {', '.join(names)}")

    step("train builtin (shrunk), translate, export")
    run([cli, "train", "builtin", *set_arguments()], cwd=workdir, env=env)
    translator = os.path.join("runs", "builtin", "translator")
    text = "The glass costs three hundred twenty-one euros."
    output = run([cli, "translate", translator, text], cwd=workdir, env=env)
    if len(output.splitlines()) != 1:
        raise CheckFailed(f"translate printed {output!r}; expected one line.")
    run([cli, "export", translator], cwd=workdir, env=env)
    exported = os.path.join(workdir, "saved_models", "builtin", "1", "saved_model.pb")
    if not os.path.isfile(exported):
        raise CheckFailed(f"export wrote no {exported}.")

    step("add the torch extra; import under every backend")
    run(pip + [f"{wheel}[torch]"], cwd=workdir)
    run([python, "-m", "pip", "check"], cwd=workdir)
    for backend in ("tensorflow", "jax", "torch"):
        check = (
            "import keras, keras_transformer; "
            f"assert keras.backend.backend() == {backend!r}, keras.backend.backend()"
        )
        run([python, "-c", check], cwd=workdir, env={**env, "KERAS_BACKEND": backend})
    torch_env = {**env, "KERAS_BACKEND": "torch"}
    again = run([cli, "translate", translator, text], cwd=workdir, env=torch_env)
    if again != output:
        raise CheckFailed(
            f"The translator trained on JAX translates {text!r} as {output!r} "
            f"there and as {again!r} on PyTorch."
        )
    print("   tensorflow, jax and torch import; PyTorch translates as JAX did")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter of the fresh venv"
    )
    parser.add_argument("--keep", help="work in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="keras-transformer-package-")
    os.makedirs(work, exist_ok=True)
    started = time.monotonic()
    try:
        wheel = build_wheel(sys.executable, os.path.join(work, "dist"))
        check_wheel_contents(wheel)
        venv = os.path.join(work, "venv")
        run([args.python, "-m", "venv", venv])
        workdir = os.path.join(work, "outside")
        os.makedirs(workdir, exist_ok=True)
        check_installed(venv, wheel, workdir)
    except CheckFailed as error:
        print(f"packaging check FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"packaging check passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
