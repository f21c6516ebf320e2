"""Runs the test suite once per Keras backend, each in its own process.

Keras reads `KERAS_BACKEND` once, at import, so one process cannot test two
backends. Backends run one after another; within one, pytest-xdist spreads
the tests over `--workers` processes (2 by default: most tests are small and
single-threaded, so two workers keep two cores busy; more only adds copies of
TensorFlow, JAX and PyTorch in memory). `--workers 0` runs them in the
pytest process itself.

    python tests/run_all_backends.py [--backends jax,torch] [--workers N]
                                     [pytest args...]

Prints one summary at the end, with each backend's slowest test files (the
seconds of their tests, summed), and exits non-zero if any backend failed.
"""

import argparse
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

BACKENDS = ("tensorflow", "jax", "torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def seconds_by_file(suite):
    """The summed seconds of each test file's tests in a JUnit `testsuite`
    element, as a Counter keyed by path (`tests/docs_test.py`)."""
    totals = collections.Counter()
    for case in suite.iter("testcase"):
        parts = case.get("classname", "").split(".")
        # classname: the module's dotted path, then any test class.
        module = next(
            (i for i, part in enumerate(parts) if part.endswith("_test")),
            len(parts) - 1,
        )
        totals["/".join(parts[: module + 1]) + ".py"] += float(case.get("time", 0))
    return totals


def run_backend(backend, workers, pytest_args):
    """Runs pytest under one backend; returns (counts, seconds, exit code,
    seconds by test file)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.xml")
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if backend == "jax":
            # Many tests compile the same programs (same model sizes, same
            # shapes); JAX's persistent compilation cache, kept for this run
            # only, compiles each once.
            env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tmp, "jax_cache"))
            env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
            env.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
        if backend == "torch":
            # torch's OpenMP threads slow down 25x when another process (or
            # tf.data's threads in the same one) competes for the cores; the
            # tests' small ops run as fast on one thread.
            env.setdefault("OMP_NUM_THREADS", "1")
        command = [
            sys.executable,
            "-m",
            "pytest",  # pyproject's testpaths: all of tests/ unless paths are given
            f"--junitxml={report}",
            "--durations=15",
            *([f"--numprocesses={workers}"] if workers else []),
            *pytest_args,
        ]
        print(f"\n===== {backend}: {' '.join(command[2:])}", flush=True)
        start = time.monotonic()
        code = subprocess.call(command, cwd=ROOT, env=env)
        seconds = time.monotonic() - start
        counts = {"passed": 0, "failed": 0, "skipped": 0}
        files = collections.Counter()
        if os.path.exists(report):
            suite = ElementTree.parse(report).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            total = int(suite.get("tests", 0))
            counts["failed"] = int(suite.get("failures", 0)) + int(
                suite.get("errors", 0)
            )
            counts["skipped"] = int(suite.get("skipped", 0))
            counts["passed"] = total - counts["failed"] - counts["skipped"]
            files = seconds_by_file(suite)
    return counts, seconds, code, files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="pytest-xdist worker processes per backend; 0 runs the tests in "
        "the pytest process (default: 2)",
    )
    args, pytest_args = parser.parse_known_args()
    if args.workers < 0:
        parser.error(f"--workers must be 0 or more; received {args.workers}")
    if args.workers and importlib.util.find_spec("xdist") is None:
        parser.error(
            "--workers needs pytest-xdist, which is not installed: install the "
            "test extras (pip install -e '.[test]') or pass --workers 0"
        )
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {sorted(unknown)}; choose from {BACKENDS}")

    results = {b: run_backend(b, args.workers, pytest_args) for b in backends}

    print("\n===== summary")
    print(f"{'backend':<12}{'passed':>8}{'failed':>8}{'skipped':>9}{'seconds':>9}")
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    ok = True
    for backend, (counts, seconds, code, _) in results.items():
        print(
            f"{backend:<12}{counts['passed']:>8}{counts['failed']:>8}"
            f"{counts['skipped']:>9}{seconds:>9.0f}"
        )
        for key in totals:
            totals[key] += counts[key]
        # pytest exits 5 when nothing was collected: that is a failure here.
        ok = ok and code == 0 and counts["passed"] > 0
        if code != 0 and counts["failed"] == 0:
            print(f"  {backend}: pytest exited with code {code}")
    for backend, (*_, files) in results.items():
        slowest = ", ".join(f"{path} {t:.0f} s" for path, t in files.most_common(5))
        if slowest:
            print(f"slowest files, {backend} (their tests' seconds): {slowest}")
    # The closing line CI reads: "N passed, N failed, N skipped".
    print(", ".join(f"{count} {key}" for key, count in totals.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
