"""A CTranslate2 translator in a process of its own, for the benchmarks.

Two `ctranslate2.Translator`s in one process slow each other down: on the
2-core CPU of the results (CTranslate2 4.8.5), a float32 translator's pass
over Multi30k test2016 took 6.4–8.7 s alone and 10.7–13.1 s once a second
translator (float32 or int8) had been created, even after that one was
deleted. Each translator a benchmark compares therefore runs in a process
of its own (`TranslatorProcess`), and the benchmark can still run every
system in rounds (`rounds.py`).

Run as a script, this module is that process: it loads the translator
named on its command line, then answers requests read from its standard
input (pickled `(args, kwargs)` of `translate_batch`) with each input's
best hypothesis, pickled, on its standard output, until its input ends.
"""

import os
import pickle
import subprocess
import sys


def available_cores():
    """The CPU cores this process may run on (its affinity, not the
    machine's count): the threads every system of a benchmark is given."""
    return len(os.sched_getaffinity(0))


class TranslatorProcess:
    """`ctranslate2.Translator(model_path, device="cpu", compute_type=...,
    intra_threads=...)` in a child process; `close()` (or leaving a `with`
    block) ends it. `intra_threads` defaults to `available_cores()`."""

    def __init__(self, model_path, compute_type, intra_threads=None):
        if intra_threads is None:
            intra_threads = available_cores()
        self._process = subprocess.Popen(
            [sys.executable, __file__, model_path, compute_type, str(intra_threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def translate_batch(self, *args, **kwargs):
        """`translate_batch(*args, **kwargs)` in the child: each input's best
        hypothesis (a list of pieces)."""
        try:
            pickle.dump((args, kwargs), self._process.stdin)
            self._process.stdin.flush()
            return pickle.load(self._process.stdout)
        except (BrokenPipeError, EOFError):
            code = self._process.wait()
            raise RuntimeError(
                f"the CTranslate2 process ended (exit code {code}); its error is above"
            ) from None

    def close(self):
        try:
            self._process.stdin.close()
        except BrokenPipeError:  # it had ended
            pass
        self._process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exception):
        self.close()


def _serve(model_path, compute_type, intra_threads):
    import ctranslate2

    translator = ctranslate2.Translator(
        model_path,
        device="cpu",
        compute_type=compute_type,
        intra_threads=int(intra_threads),
    )
    while True:
        try:
            args, kwargs = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        results = translator.translate_batch(*args, **kwargs)
        hypotheses = [result.hypotheses[0] for result in results]
        pickle.dump(hypotheses, sys.stdout.buffer)
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    _serve(*sys.argv[1:])
