"""benchmarks/search_steps.py: the sentence-steps each way of dropping
finished sentences runs, counted by hand on one small batch, and the
recorder against the search it stands in for."""

import importlib.util
import os

import keras
import numpy as np
import pytest

from keras_transformer.decoding import Generator
from keras_transformer.translator import search_in_batches
from tests.tiny import tiny_transformer

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "search_steps.py")
spec = importlib.util.spec_from_file_location("search_steps", SCRIPT)
search_steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(search_steps)

# Eight rows done at these steps (1: the first step).
DONE_AT = np.array([1, 2, 5, 5, 9, 3, 3, 3])


def test_whole_batches_run_every_row_to_the_last_step():
    assert search_steps.shrinking_steps(DONE_AT, None) == (8 * 9, 1)


def test_quarters_shrink_once_the_searching_fit():
    # Steps 1-5 over 8 rows; after step 5 one sentence searches: 2 rows
    # (not 1: a quarter of 2 is 0) for steps 6-9.
    assert search_steps.shrinking_steps(DONE_AT, 4) == (5 * 8 + 4 * 2, 2)


def test_halves_shrink_by_halves():
    # 8 rows for steps 1-3, 4 for steps 4-5, then 1 for steps 6-9.
    assert search_steps.shrinking_steps(DONE_AT, 2) == (3 * 8 + 2 * 4 + 4 * 1, 3)


def test_refilled_rows_take_the_next_sentence_when_one_is_done():
    # 4 rows: the 9-step sentence joins after step 2 and ends the search at
    # step 10; every row counts at every step.
    assert search_steps.refilled_steps(DONE_AT, 4) == (4 * 10, 10)
    # One row runs the sentences one after the other.
    assert search_steps.refilled_steps(DONE_AT, 1) == (DONE_AT.sum(), DONE_AT.sum())


# The recorder runs the search eagerly, which costs JAX about 14 s a search
# here (each op compiles on first use); nothing in it depends on the backend.
@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="does not depend on the backend: run in the PyTorch leg",
)
@pytest.mark.parametrize("num_beams", [1, 3])
def test_the_recorder_finds_what_the_search_finds(num_beams):
    """Stepping a batch one position at a time (across cache stages) gives
    the search's outputs, and each sentence is done at the step its output
    ends (the end token counted), or later for beam search."""
    model = tiny_transformer(12)
    generator = Generator(
        model,
        num_beams=num_beams,
        max_length_offset=6,
        first_cache_length=2,
        jit_compile=False,
    )
    recorder = search_steps.DoneStepRecorder(generator)
    rng = np.random.default_rng(0)
    sources = [rng.integers(4, 12, size=n).astype("int32") for n in (1, 5, 3, 2, 4)]
    recorded = search_in_batches(recorder, sources, batch_size=4)
    compiled = search_in_batches(generator, sources, batch_size=4)
    for found, expected in zip(recorded[0], compiled[0], strict=True):
        np.testing.assert_array_equal(found, expected)
    assert [len(d) for d in recorder.done_steps] == [4, 1]
    done_at = np.concatenate(recorder.done_steps)
    order = sorted(range(len(sources)), key=lambda i: -len(sources[i]))
    for row, index in enumerate(order):
        length = np.count_nonzero(compiled[0][index][0])
        if num_beams == 1:
            assert done_at[row] == length, (row, done_at[row], length)
        else:
            assert done_at[row] >= length, (row, done_at[row], length)
