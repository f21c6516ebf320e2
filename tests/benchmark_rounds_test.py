"""benchmarks/rounds.py: systems timed in rounds, each once per round after
a first call each, so a drift of the machine's speed reaches them all."""

import importlib.util
import os

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "rounds.py")
spec = importlib.util.spec_from_file_location("rounds", SCRIPT)
rounds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rounds)


def test_systems_run_once_each_then_in_rounds():
    calls = []

    def system(name):
        def run():
            calls.append(name)
            return f"{name}{len(calls)}"

        return run

    first, times, outputs = rounds.timed_rounds(
        {name: system(name) for name in "abc"}, repeats=3
    )
    assert calls == list("abc") * 4  # the first calls, then three rounds
    assert set(first) == set("abc") and all(value >= 0 for value in first.values())
    assert {name: len(values) for name, values in times.items()} == dict.fromkeys(
        "abc", 3
    )
    assert outputs == {"a": "a10", "b": "b11", "c": "c12"}  # the last calls'


def test_ratios_are_taken_within_rounds():
    # The machine slows down 4x in the second round: both systems see it.
    ours, theirs = [1.0, 4.0, 1.0], [2.0, 8.0, 2.0]
    assert rounds.median_ratio(theirs, ours) == 2.0
    assert rounds.median_ratio([3.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == 2.0
