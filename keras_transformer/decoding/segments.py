"""A search run in segments, dropping the sentences that are done between them.

A compiled search keeps its whole batch to the end: a sentence whose search
has ended still costs every step until the batch's last one ends.
CTranslate2 takes finished sentences out of the batch at every step. A
compiled program cannot change the size of its batch, so `Generator.generate`
runs a search as compiled segments: each one runs until the end of its cache
stage or until the sentences still searching fit in a quarter of the batch's
rows, and between segments the sentences that are done leave the loop state
(on the host, in numpy). The batch shrinks by powers of four (padded with
copies marked done), so that few shapes compile. Sentences never interact
in a search, so each one's outputs are what the whole search gives it.
"""

import keras
import numpy as np

# A batch shrinks to a quarter of its rows (or a sixteenth, ...) once the
# sentences still searching fit there: each size is one more program to
# compile per source length and cache stage, so the sizes are few.
SHRINK_FACTOR = 4


def rows_for(count, rows, factor=SHRINK_FACTOR):
    """The rows a batch of `rows` shrinks to when `count` of its sentences
    are still searching: `rows` divided by a power of `factor`."""
    while rows > 1 and count <= rows // factor:
        rows //= factor
    return rows


def take_sentences(state, context, rows, num_beams):
    """A loop state and search context restricted to (or repeating) the
    sentences at `rows`.

    Args:
        state: a search's loop state (`search.GreedyState` or `BeamState`) of
            numpy arrays: every field but `index` has the batch first, and
            the `cache` has `batch * num_beams` rows, sentence-major.
        context: a nest of tensors (or numpy arrays) of `batch` rows.
        rows: int array of sentence positions in the batch.
        num_beams: rows per sentence in the cache.

    Returns:
        `(state, context)` of `len(rows)` sentences.
    """
    beam_rows = (rows[:, None] * num_beams + np.arange(num_beams)).reshape(-1)
    fields = state._asdict()
    for name, value in fields.items():
        if name == "cache":
            fields[name] = keras.tree.map_structure(lambda x: x[beam_rows], value)
        elif name != "index":
            fields[name] = value[rows]
    context = keras.tree.map_structure(
        lambda x: keras.ops.take(x, rows, axis=0), context
    )
    return type(state)(**fields), context


def search_in_segments(
    state, context, advance, stages, num_beams, resize_cache, outputs
):
    """Runs a search from its start in segments, dropping done sentences.

    Args:
        state: the start of the search: a loop state of numpy arrays whose
            cache holds `stages[0]` positions.
        context: what the step reads and never changes, one row per
            sentence (`take_sentences`), numpy arrays or tensors.
        advance: `advance(state, context, end) -> state`, numpy in and out:
            the search's loop while positions before `end` are left and the
            sentences still searching do not fit in `rows_for` fewer rows.
        stages: the cache stages (`cache.cache_stages`): the cache grows to
            each before the search reaches its positions.
        num_beams: rows per sentence in the cache.
        resize_cache: `resize_cache(cache, length)` pads the cache.
        outputs: `outputs(state) -> (token_ids, scores)`, batch first.

    Returns:
        `(token_ids, scores)` of every sentence of the start state, in its
        order.
    """
    batch_size = len(state.done)
    sentence_of_row = np.arange(batch_size)  # -1: a padding row
    # Every segment reads the context and none changes it: held as tensors,
    # it is not converted from numpy again at each segment's call (the
    # cross-attention keys and values are the largest input of a segment).
    context = keras.tree.map_structure(keras.ops.convert_to_tensor, context)
    token_ids, scores = (np.array(x) for x in outputs(state))

    def keep_outputs(state, rows):
        found_ids, found_scores = outputs(state)
        token_ids[sentence_of_row[rows]] = found_ids[rows]
        scores[sentence_of_row[rows]] = found_scores[rows]

    stage = 0
    while True:
        state = advance(state, context, stages[stage])
        searching = np.flatnonzero(~state.done)
        if not len(searching):
            break
        rows = rows_for(len(searching), len(sentence_of_row))
        if rows < len(sentence_of_row):
            keep_outputs(state, np.flatnonzero(state.done & (sentence_of_row >= 0)))
            padding = np.full(rows - len(searching), searching[0])
            chosen = np.concatenate([searching, padding])
            state, context = take_sentences(state, context, chosen, num_beams)
            state.done[len(searching) :] = True
            sentence_of_row = sentence_of_row[chosen]
            sentence_of_row[len(searching) :] = -1
        if state.index >= stages[stage]:
            # The outputs reached the end of the cache: grow it. (At the last
            # stage's end every sentence is done: its limit is reached.)
            stage += 1
            cache = resize_cache(state.cache, stages[stage])
            cache = keras.tree.map_structure(keras.ops.convert_to_numpy, cache)
            state = state._replace(cache=cache)
    keep_outputs(state, np.flatnonzero(sentence_of_row >= 0))
    return token_ids, scores
