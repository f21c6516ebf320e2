"""Timing several systems in rounds, for the benchmark scripts.

Timing all the runs of one system before the next lets a drift of the
machine's speed (another tenant, the clock) fall on some systems and not
others. `timed_rounds` runs every system once (the first call, which
compiles), then in rounds that run each system once; a ratio of two
systems taken within each round (`median_ratio`) then cancels the drift.
"""

import statistics
import time


def timed_rounds(systems, repeats):
    """Times `systems` (name -> function of no arguments) in rounds.

    Returns:
        `(first, times, outputs)`: each system's first call's seconds, its
        seconds in each of the `repeats` rounds, and what its last call
        returned.
    """
    first, outputs = {}, {}
    for name, function in systems.items():
        started = time.perf_counter()
        outputs[name] = function()
        first[name] = time.perf_counter() - started
    times = {name: [] for name in systems}
    for _ in range(repeats):
        for name, function in systems.items():
            started = time.perf_counter()
            outputs[name] = function()
            times[name].append(time.perf_counter() - started)
    return first, times, outputs


def median_ratio(numerators, denominators):
    """The median over rounds of `numerators[i] / denominators[i]`."""
    return statistics.median(
        a / b for a, b in zip(numerators, denominators, strict=True)
    )
