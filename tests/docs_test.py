"""Every command and example in README.md and docs/ runs.

Each fenced ```bash and ```python block of the documentation runs here, page
by page and in order, in a fresh working directory that holds what the pages
refer to: `runs/builtin/` (a finished run of `keras-transformer train
builtin`), `data/multi30k/` (a small corpus in Multi30k's file layout),
`benchmarks/` and `.venv/` (links to the repository's scripts and to this
interpreter's environment). `keras-transformer train` commands and
`load_recipe(...)` calls are shrunk to a few updates (tests/shrunk.py); a
block that cannot run on a CPU machine without network says why on the line
before it: `<!-- not run: REASON -->`.

Each page runs once, in the leg of the suite that PAGE_BACKENDS gives it:
its commands and examples run in the test's own process (a `keras-transformer`
command through `cli.main`, a Python block through `exec`), unless they name
another backend or use shell syntax, which run in a process of their own.
"""

import contextlib
import dataclasses
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

import keras
import pytest

from keras_transformer.cli import main as cli_main
from tests.data_helpers import make_pairs
from tests.shrunk import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + sorted(
    os.path.join("docs", name)
    for name in os.listdir(os.path.join(ROOT, "docs"))
    if name.endswith(".md")
)
RUN_LANGUAGES = {"bash", "python"}
LANGUAGES = RUN_LANGUAGES | {"text"}
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>.*?) -->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w-]*)\s*$")
# Shrunk, and validated every epoch so that the run has a best checkpoint.
SHRINK = TINY + ["train.eval_every_epochs=1"]
TRAIN = re.compile(r"(keras[-_]transformer(?:\.cli)?\s+train\s+\S+)")
INSTALL = re.compile(r"^.*\bpip install\b.*$", re.MULTILINE)
BENCHMARK_SHRINK = {
    # One dropout (of the default two): each system's worker is a process.
    "training_throughput.py": "--tiny --dropouts 0.1",
    "decoding_throughput.py": "--sentences 4 --baseline-sentences 2 --batch-size 2 "
    "--lengths 4 --repeats 1 --vocabulary-size 60 --skip-marian",
    "pipeline_throughput.py": "--vocabulary-size 60 --token-budget 256 "
    "--max-length 32 --model-steps 1",
    "int8_matmul.py": "--calls 2 --repeats 1",
}
BENCHMARK = re.compile(r"(benchmarks/(?P<script>\w+\.py)(?:[ \t]+[^|&;<>#\n]*)?)")

# Each page runs once, in one leg of the suite, and its commands run on that
# leg's backend unless they name another (which then runs in a process of
# its own). README's command 1 exports KERAS_BACKEND=jax; the other pages
# are spread over the legs so that none carries them all.
PAGE_BACKENDS = {
    "README.md": "jax",
    "docs/data.md": "tensorflow",
    "docs/serving.md": "tensorflow",
    "docs/training.md": "tensorflow",
}
DEFAULT_PAGE_BACKEND = "torch"


@dataclasses.dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    not_run: str | None  # the reason, for a block marked not to run

    @property
    def where(self):
        return f"{self.page}:{self.line}"


def read_blocks(page):
    """The fenced code blocks of a markdown page, in order."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as file:
        lines = file.read().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page}:{index + 1}: a code block is never closed")
        indent = len(fence.group("indent"))
        code = "\n".join(line[indent:] for line in lines[index + 1 : end])
        before = [line for line in lines[:index] if line.strip()]
        marker = NOT_RUN.fullmatch(before[-1].strip()) if before else None
        blocks.append(
            Block(
                page,
                index + 1,
                fence.group("language"),
                code,
                marker.group("reason").strip() if marker else None,
            )
        )
        index = end + 1
    return blocks


def test_every_block_has_a_known_language_and_every_marker_a_block():
    problems = []
    for page in PAGES:
        blocks = read_blocks(page)
        for block in blocks:
            if block.language not in LANGUAGES:
                problems.append(
                    f"{block.where}: a ```{block.language} block; use ```bash or "
                    "```python for what runs, ```text for output"
                )
            if block.not_run is not None and not block.not_run:
                problems.append(f"{block.where}: `<!-- not run: -->` without a reason")
        with open(os.path.join(ROOT, page), encoding="utf-8") as file:
            lines = file.read().splitlines()
        marked = {block.line for block in blocks if block.not_run is not None}
        for number, line in enumerate(lines, 1):
            if NOT_RUN.fullmatch(line.strip()):
                following = next(
                    (
                        n
                        for n in range(number + 1, len(lines) + 1)
                        if lines[n - 1].strip()
                    ),
                    None,
                )
                if following not in marked:
                    problems.append(
                        f"{page}:{number}: a `not run` marker that no code block "
                        "follows"
                    )
    assert not problems, "\n".join(problems)


def test_the_pages_link_to_files_that_exist():
    missing = []
    link = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")
    for page in PAGES:
        with open(os.path.join(ROOT, page), encoding="utf-8") as file:
            text = file.read()
        for match in link.finditer(text):
            target = match.group("target")
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path = os.path.join(ROOT, os.path.dirname(page), target)
            if not os.path.exists(path):
                missing.append(f"{page}: ({target})")
    assert not missing, "links to missing files:\n" + "\n".join(missing)


def shrink_bash(code):
    """The block with its train commands and benchmark runs shrunk, and its
    installs left out (the environment running the test has them; CI makes
    them in .ci/run and .ci/check_package.py)."""
    overrides = " ".join(f"--set {shlex.quote(override)}" for override in SHRINK)
    code = code.replace("\\\n", " ")  # one line per command
    code = INSTALL.sub(":", code)
    code = TRAIN.sub(lambda match: f"{match.group(1)} {overrides}", code)

    def benchmark(match):
        extra = BENCHMARK_SHRINK.get(match.group("script"))
        return f"{match.group(1).rstrip()} {extra} " if extra else match.group(1)

    return BENCHMARK.sub(benchmark, code)


def test_documented_installs_name_extras_and_files_that_exist():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        extras = set(tomllib.load(file)["project"]["optional-dependencies"])
    installs = [
        (block.where, line)
        for page in PAGES
        for block in read_blocks(page)
        if block.language == "bash"
        for line in block.code.replace("\\\n", " ").splitlines()
        if INSTALL.match(line)
    ]
    assert installs, "the documentation shows no pip install"
    problems = []
    for where, line in installs:
        for named in re.findall(r"\.\[([\w,-]+)\]", line):
            unknown = set(named.split(",")) - extras
            if unknown:
                problems.append(f"{where}: unknown extra(s) {sorted(unknown)}")
        for path in re.findall(r"-c\s+(\S+)", line):
            if not os.path.isfile(os.path.join(ROOT, path)):
                problems.append(f"{where}: no file {path}")
    assert not problems, "\n".join(problems)


def shrink_python(code):
    """The block with its recipes shrunk (`load_recipe(...)` calls)."""
    prelude = (
        "def _docs_shrink(config):\n"
        "    from keras_transformer.config import apply_overrides\n"
        f"    return apply_overrides(config, {SHRINK!r})\n"
    )
    shrunk = re.sub(
        r"\bload_recipe\(([^()]*)\)", r"_docs_shrink(load_recipe(\1))", code
    )
    return prelude + shrunk if shrunk != code else code


def _write_multi30k_like(directory):
    os.makedirs(directory)
    splits = (("train", 200), ("val", 8), ("test_2016_flickr", 8))
    for seed, (split, count) in enumerate(splits):
        pairs = make_pairs(count, seed=seed)
        for side, language in enumerate(("en", "de")):
            path = os.path.join(directory, f"{split}.{language}")
            with open(path, "w", encoding="utf-8") as file:
                file.writelines(f"{pair[side]}\n" for pair in pairs)


def _environment():
    bin_dir = os.path.dirname(sys.executable)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": ROOT,
        "MPLBACKEND": "Agg",
    }


@contextlib.contextmanager
def _inside(directory):
    """Runs the body in `directory`, with Matplotlib drawing off screen."""
    previous = os.getcwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


def _cli(argv, directory, where):
    """`keras-transformer ARGV` in this process (its imports are paid for)."""
    output = io.StringIO()
    with (
        _inside(directory),
        contextlib.redirect_stdout(output),
        contextlib.redirect_stderr(output),
    ):
        try:
            code = cli_main(argv)
        except SystemExit as exit:
            code = exit.code
    assert code in (0, None), (
        f"{where}: `keras-transformer {shlex.join(argv)}` exited with {code}:\n"
        f"{output.getvalue()[-5000:]}"
    )


def _subprocess(command, directory, env, where, code):
    result = subprocess.run(
        command,
        cwd=directory,
        env={**_environment(), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, (
        f"{where}: exited with {result.returncode}:\n{code}\n--- stdout:\n"
        f"{result.stdout[-3000:]}\n--- stderr:\n{result.stderr[-5000:]}"
    )


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """A directory with a finished shrunk builtin run and a small corpus."""
    directory = tmp_path_factory.mktemp("docs-prepared")
    _write_multi30k_like(directory / "data" / "multi30k")
    (command,) = _commands(shrink_bash("keras-transformer train builtin"))
    _cli(shlex.split(command)[1:], directory, "the prepared run")
    checkpoints = directory / "runs" / "builtin" / "checkpoints"
    assert (checkpoints / "best.weights.h5").is_file()
    return directory


def _workspace(prepared, tmp_path):
    workspace = tmp_path / "workspace"
    shutil.copytree(prepared, workspace, symlinks=True)
    os.symlink(os.path.join(ROOT, "benchmarks"), workspace / "benchmarks")
    os.symlink(sys.prefix, workspace / ".venv")
    return workspace


def _commands(code):
    """The command lines of a shrunk bash block (comments dropped)."""
    for line in code.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            yield line.strip()


def _in_process_argv(command, env):  # env: the page's exported variables
    """The arguments of a plain `keras-transformer` command that can run in
    this process (this backend, no shell syntax), else None."""
    if re.search(r"[|&;<>$`]", command):
        return None
    words = shlex.split(command, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        name, _, value = words.pop(0).partition("=")
        if name != "KERAS_BACKEND" or value != keras.backend.backend():
            return None
    if env["KERAS_BACKEND"] != keras.backend.backend():
        return None
    if words and os.path.basename(words[0]) == "keras-transformer":
        return words[1:]
    return None


def _run_bash(block, workspace, env):
    """Runs a bash block line by line; `export` lines change `env`."""
    for command in _commands(shrink_bash(block.code)):
        if command.startswith("export "):
            for assignment in shlex.split(command, comments=True)[1:]:
                name, _, value = assignment.partition("=")
                env[name] = value
            continue
        argv = _in_process_argv(command, env)
        if argv is not None:
            _cli(argv, workspace, block.where)
        else:
            script = f"set -eo pipefail\n{command}"
            _subprocess(["bash", "-c", script], workspace, env, block.where, command)


def _run_python(block, workspace, env):
    code = shrink_python(block.code)
    if env["KERAS_BACKEND"] != keras.backend.backend():
        command = [sys.executable, "-c", code]
        _subprocess(command, workspace, env, block.where, block.code)
        return
    policy = keras.config.dtype_policy()
    try:
        with _inside(workspace):
            exec(compile(code, block.where, "exec"), {"__name__": "__main__"})
    finally:
        keras.config.set_dtype_policy(policy)


def _pages_with_runnable_blocks():
    return [
        page
        for page in PAGES
        if any(
            block.language in RUN_LANGUAGES and block.not_run is None
            for block in read_blocks(page)
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages_with_runnable_blocks())
def test_the_pages_commands_and_examples_run(page, request, tmp_path):
    backend = PAGE_BACKENDS.get(page, DEFAULT_PAGE_BACKEND)
    if keras.backend.backend() != backend:
        pytest.skip(f"{page} runs in the {backend} leg of the suite")
    workspace = _workspace(request.getfixturevalue("prepared"), tmp_path)
    env = {"KERAS_BACKEND": backend}
    for block in read_blocks(page):
        if block.not_run is not None:
            continue
        if block.language == "bash":
            _run_bash(block, workspace, env)
        elif block.language == "python":
            _run_python(block, workspace, env)


def test_shrinking_rewrites_train_commands_and_recipes():
    shrunk = shrink_bash(
        "KERAS_BACKEND=jax keras-transformer train builtin && "
        "torchrun --nproc_per_node 2 -m keras_transformer.cli train builtin "
        "--devices 2"
    )
    assert shrunk.count("--set train.max_steps=3") == 2
    assert "train builtin --set model.preset=none" in shrunk
    assert shrunk.endswith("--devices 2")
    assert "keras-transformer export" == shrink_bash("keras-transformer export")
    assert shrink_bash("python3 -m venv v && v/bin/pip install '.[jax]'\nls") == ":\nls"
    benchmark = shrink_bash(
        "python benchmarks/decoding_throughput.py \\\n"
        "  --sentences 1000 # a comment\nls"
    )
    assert "--sentences 1000 --sentences 4 " in benchmark
    assert benchmark.endswith("# a comment\nls")
    code = 'from keras_transformer.recipes import load_recipe\nc = load_recipe("x")\n'
    assert '_docs_shrink(load_recipe("x"))' in shrink_python(code)
    assert shrink_python("print(1)") == "print(1)"
