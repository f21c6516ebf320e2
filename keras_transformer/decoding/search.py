"""Greedy and beam search over a next-token callback, in `keras.ops` alone.

Each search comes in parts: a start (`greedy_start`, `beam_start`: the loop
state), a step (`greedy_step`, `beam_step`: the loop's body) and its outputs
(`greedy_outputs`, `beam_outputs`). `greedy_search` and `beam_search` run
them in `keras.ops.while_loop`, so a search compiles into one XLA program on
JAX and one graph on TensorFlow, and runs as a plain loop on PyTorch;
`Generator` also runs the same parts in segments, dropping the sentences
that are done between them (`segments`). The searches know nothing about the
model: each step calls

    logits, cache = next_token_logits(token_ids, cache, index)

with the `(batch,)` token ids at position `index`, and gets back the
`(batch, vocabulary_size)` logits for position `index + 1` and the updated
cache (any nest of tensors whose first axis is the batch).

Lengths follow Vaswani et al. 2017, §6.1: the output of a sentence may be at
most `max_length_ratio * source_length + max_length_offset` tokens (input
length + 50 in the paper), and never more than the static `max_length`. A
hypothesis that reaches its limit is ended with the end token.

A loop state is a NamedTuple whose fields, but for the scalar `index`, have
the batch of sentences first; the `cache` has `batch * num_beams` rows,
sentence-major.
"""

from typing import Any, NamedTuple

import keras
from keras import ops

from keras_transformer.decoding.cache import staged_while_loop
from keras_transformer.special_tokens import END_ID, PAD_ID, START_ID

NEGATIVE_INFINITY = float("-inf")


def length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al. 2016, eq. 14).

    A hypothesis's score is its log probability divided by this; `alpha = 0`
    ranks by log probability alone. Vaswani et al. used `alpha = 0.6` (§6.1).
    """
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def power_length_penalty(length, alpha):
    """`length ** alpha`, CTranslate2's (and Hugging Face's) normalization:
    a hypothesis's score is its log probability divided by this."""
    return ops.power(ops.cast(length, "float32"), alpha)


def output_length_limits(
    source_lengths, max_length, max_length_ratio=1.0, max_length_offset=50
):
    """Per-sentence output limits: `ratio * source_length + offset`, capped.

    Args:
        source_lengths: `(batch,)` number of source tokens of each sentence.
        max_length: the hard cap (the static length of the search).
        max_length_ratio, max_length_offset: see the module docstring.

    Returns:
        `(batch,)` int32 limits in `[1, max_length]`, end token included. An
        empty source gets 1: its output is the end token alone.
    """
    limits = ops.cast(source_lengths, "float32") * max_length_ratio
    limits = ops.cast(ops.ceil(limits), "int32") + max_length_offset
    # An empty source (or a row that only pads a batch) ends at once.
    limits = ops.where(source_lengths == 0, 1, limits)
    return ops.clip(limits, 1, max_length)


def restrict_choices(log_probs, must_end):
    """Sets the log probabilities of tokens that may not come next to -inf.

    Padding and the start token never come next (as in fairseq); where
    `must_end` is True (it broadcasts against `log_probs[..., :1]`) only the
    end token may.
    """
    vocabulary = ops.arange(ops.shape(log_probs)[-1])
    special = ops.logical_or(vocabulary == PAD_ID, vocabulary == START_ID)
    forbidden = ops.logical_or(special, ops.logical_and(must_end, vocabulary != END_ID))
    return ops.where(forbidden, NEGATIVE_INFINITY, log_probs)


def write_column(sequences, index, tokens):
    """Returns `sequences` with `tokens` written at position `index` of the
    last axis (`index` may be a tensor)."""
    positions = ops.arange(ops.shape(sequences)[-1])
    return ops.where(positions == index, ops.expand_dims(tokens, -1), sequences)


class GreedyState(NamedTuple):
    """The loop state of greedy search."""

    index: Any  # () int32: the output position the next step reads
    tokens: Any  # (batch, max_length + 1) int32: the start token, then outputs
    cache: Any  # the step callback's cache
    scores: Any  # (batch,) float32: log probability of the output so far
    done: Any  # (batch,) bool: the end token has been generated
    limits: Any  # (batch,) int32: output limits, end token included

    @property
    def max_length(self):
        """Number of output positions (a tensor where the shape is not static)."""
        return ops.shape(self.tokens)[-1] - 1


class BeamState(NamedTuple):
    """The loop state of beam search (live and finished hypotheses apart,
    as flax's `BeamState` and fairseq keep them)."""

    index: Any  # () int32: the output position the next step reads
    sequences: Any  # (batch, beams, max_length + 1) int32: live hypotheses
    live_log_probs: Any  # (batch, beams) float32: their log probabilities
    cache: Any  # the step callback's cache, (batch * beams, ...) rows
    finished_sequences: Any  # (batch, beams, max_length + 1) int32
    finished_scores: Any  # (batch, beams) float32: length-normalized, -inf: none
    done: Any  # (batch,) bool: no live hypothesis can overtake the finished
    limits: Any  # (batch,) int32: output limits, end token included

    @property
    def max_length(self):
        """Number of output positions (a tensor where the shape is not static)."""
        return ops.shape(self.sequences)[-1] - 1


def keep_going(state):
    """Whether a search runs another step: output positions are left and a
    sentence is not done."""
    return ops.logical_and(
        state.index < state.max_length, ops.logical_not(ops.all(state.done))
    )


def _limits(output_limits, batch_size, max_length):
    if output_limits is None:
        return ops.full((batch_size,), max_length, "int32")
    return ops.cast(output_limits, "int32")


def greedy_start(cache, batch_size, max_length, output_limits=None):
    """The first `GreedyState`: nothing generated, outputs of `max_length`
    positions, per-sentence `output_limits` (default: `max_length`)."""
    tokens = ops.zeros((batch_size, max_length + 1), "int32")
    tokens = write_column(tokens, 0, ops.full((batch_size,), START_ID, "int32"))
    return GreedyState(
        index=ops.convert_to_tensor(0, "int32"),
        tokens=tokens,
        cache=cache,
        scores=ops.zeros((batch_size,), "float32"),
        done=ops.zeros((batch_size,), "bool"),
        limits=_limits(output_limits, batch_size, max_length),
    )


def greedy_step(next_token_logits):
    """The body of greedy search's loop, `step(state) -> state`: picks the
    most probable token at one position."""

    def step(state):
        index = state.index
        logits, cache = next_token_logits(
            ops.take(state.tokens, index, axis=1), state.cache, index
        )
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        must_end = ops.expand_dims(index + 1 >= state.limits, -1)
        log_probs = restrict_choices(log_probs, must_end)
        next_tokens = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        next_tokens = ops.where(state.done, PAD_ID, next_tokens)
        chosen = ops.take_along_axis(log_probs, next_tokens[:, None], axis=-1)[:, 0]
        return GreedyState(
            index=index + 1,
            tokens=write_column(state.tokens, index + 1, next_tokens),
            cache=cache,
            scores=state.scores + ops.where(state.done, 0.0, chosen),
            done=ops.logical_or(state.done, next_tokens == END_ID),
            limits=state.limits,
        )

    return step


def greedy_outputs(state):
    """`(token_ids, scores)` of a `GreedyState`: `(batch, max_length)` int32
    outputs (start token left out; padding after the end token) and
    `(batch,)` float32 log probabilities."""
    return state.tokens[:, 1:], state.scores


def greedy_search(
    next_token_logits,
    cache,
    batch_size,
    max_length,
    output_limits=None,
    resize_cache=None,
    first_cache_length=16,
    longest_output=None,
    compile_step=None,
):
    """Picks the most probable token at every step.

    Args:
        next_token_logits: the step callback (module docstring).
        cache: its initial cache.
        batch_size: number of sentences.
        max_length: number of output positions (end token included): an
            int, or a scalar tensor inside a TensorFlow graph.
        output_limits: optional `(batch,)` per-sentence limits
            (`output_length_limits`); defaults to `max_length`.
        resize_cache: optional `resize_cache(cache, length)` that pads (or
            cuts) the cache to `length` positions; the cache then grows in
            stages from `first_cache_length` (`cache.cache_stages`).
        first_cache_length: the first stage's length.
        longest_output: a static bound on a tensor `max_length`, which lets
            its cache grow in stages too.
        compile_step: optional function that compiles the loop's body, for a
            backend that runs the loop itself in Python
            (`step_compiler.search_step_compiler`: `torch.compile`).

    Returns:
        `greedy_outputs`: `(batch, max_length)` int32 output tokens (the
        start token is not included; the end token is, padding follows it) and
        `(batch,)` float32 log probabilities of the outputs.
    """
    state = staged_while_loop(
        keep_going,
        greedy_step(next_token_logits),
        greedy_start(cache, batch_size, max_length, output_limits),
        max_length,
        resize_cache,
        first_cache_length,
        longest_output,
        compile_step,
    )
    return greedy_outputs(state)


# Beam search ranks `num_beams * vocabulary_size` extensions per sentence;
# `top_k_in_chunks` ranks the maxima of chunks of this many first.
TOP_K_CHUNK = 128


def top_k_in_chunks(values, k, chunk_size=TOP_K_CHUNK):
    """`keras.ops.top_k(values, k)` of a `(batch, n)` tensor, read from the
    `k` chunks (of `chunk_size` consecutive values) with the highest maxima.

    The `k` largest values lie in those chunks (a chunk holding one of them
    has a maximum no lower than it, and at most `k - 1` larger values lie
    elsewhere), so ranking the chunks' maxima and then the `k * chunk_size`
    values of the chosen chunks gives the same values and indices, equal
    values going to the lower index as in `keras.ops.top_k` (the chosen
    chunks are read in index order). On the CPU, XLA's top-k sorts each row
    partially: over a beam-4 step's 32,000 extensions per sentence it costs
    several times the chunked search. A short axis takes `ops.top_k`.
    """
    n = values.shape[-1]
    if n is None or n < 4 * k * chunk_size:
        return ops.top_k(values, k)
    batch_size = ops.shape(values)[0]
    padding = -n % chunk_size
    if padding:
        values = ops.pad(
            values, [[0, 0], [0, padding]], constant_values=NEGATIVE_INFINITY
        )
    chunks = ops.reshape(values, (batch_size, -1, chunk_size))
    # `amax`, not `max`: torch.compile breaks the graph at the isinstance
    # test of Keras' PyTorch `max` (its result's `values`).
    _, best_chunks = ops.top_k(ops.amax(chunks, axis=-1), k)
    best_chunks = ops.sort(ops.cast(best_chunks, "int32"), axis=-1)
    candidates = ops.take_along_axis(
        chunks,
        ops.broadcast_to(ops.expand_dims(best_chunks, -1), (batch_size, k, chunk_size)),
        axis=1,
    )
    top_values, positions = ops.top_k(
        ops.reshape(candidates, (batch_size, k * chunk_size)), k
    )
    positions = ops.cast(positions, "int32")
    chunk_of = ops.take_along_axis(best_chunks, positions // chunk_size, axis=1)
    return top_values, chunk_of * chunk_size + positions % chunk_size


def _gather_beams(tensor, beam_indices):
    """`tensor[b, beam_indices[b, j]]` for `(batch, beams, ...)` tensors."""
    indices = beam_indices
    while len(indices.shape) < len(tensor.shape):
        indices = ops.expand_dims(indices, -1)
    return ops.take_along_axis(tensor, indices, axis=1)


def _reorder_cache(cache, beam_indices, num_beams):
    """Reorders the rows of a `(batch * num_beams, ...)` cache nest so row
    `b * num_beams + j` holds what row `b * num_beams + beam_indices[b, j]`
    held."""
    batch_size = ops.shape(beam_indices)[0]
    offsets = ops.expand_dims(ops.arange(batch_size, dtype="int32") * num_beams, -1)
    rows = ops.reshape(offsets + beam_indices, (-1,))
    return keras.tree.map_structure(lambda x: ops.take(x, rows, axis=0), cache)


def beam_start(cache, batch_size, num_beams, max_length, output_limits=None):
    """The first `BeamState`: one live hypothesis per sentence (the start
    token), none finished, outputs of `max_length` positions, per-sentence
    `output_limits` (default: `max_length`)."""
    sequences = ops.zeros((batch_size, num_beams, max_length + 1), "int32")
    start = ops.full((batch_size, num_beams), START_ID, "int32")
    sequences = write_column(sequences, 0, start)
    # Only the first beam is live at the start, so the beams do not repeat.
    # A dense (batch, beams) tensor, like the step's own outputs: a broadcast
    # view (stride 0) would make torch.compile compile the step once more.
    first_beam = ops.broadcast_to(ops.arange(num_beams) == 0, (batch_size, num_beams))
    return BeamState(
        index=ops.convert_to_tensor(0, "int32"),
        sequences=sequences,
        live_log_probs=ops.where(first_beam, 0.0, NEGATIVE_INFINITY),
        cache=cache,
        finished_sequences=ops.zeros_like(sequences),
        finished_scores=ops.full((batch_size, num_beams), NEGATIVE_INFINITY),
        done=ops.zeros((batch_size,), "bool"),
        limits=_limits(output_limits, batch_size, max_length),
    )


def beam_step(
    next_token_logits,
    num_beams,
    length_penalty_alpha=0.6,
    length_normalization="gnmt",
    early_stopping=False,
):
    """The body of beam search's loop, `step(state) -> state`: extends the
    live hypotheses by one position (`beam_search` says how)."""
    rank = ops.arange(2 * num_beams)

    def step(state):
        index = state.index
        batch_size = ops.shape(state.sequences)[0]
        tokens = ops.reshape(ops.take(state.sequences, index, axis=2), (-1,))
        logits, cache = next_token_logits(tokens, state.cache, index)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        vocabulary_size = ops.shape(log_probs)[-1]
        log_probs = ops.reshape(log_probs, (batch_size, num_beams, vocabulary_size))
        must_end = ops.reshape(index + 1 >= state.limits, (batch_size, 1, 1))
        log_probs = restrict_choices(log_probs, must_end)

        # (batch, beams * vocabulary): every extension of every live beam.
        candidates = ops.reshape(
            ops.expand_dims(state.live_log_probs, -1) + log_probs,
            (batch_size, num_beams * vocabulary_size),
        )
        top_log_probs, top_indices = top_k_in_chunks(candidates, 2 * num_beams)
        top_indices = ops.cast(top_indices, "int32")
        parents = top_indices // vocabulary_size
        top_tokens = top_indices % vocabulary_size
        top_sequences = write_column(
            _gather_beams(state.sequences, parents), index + 1, top_tokens
        )
        ends = top_tokens == END_ID
        if length_normalization == "gnmt":
            penalty = length_penalty(index + 1, length_penalty_alpha)
        else:
            penalty = power_length_penalty(index + 1, length_penalty_alpha)

        # Finished: extensions that end within the first `num_beams` ranks.
        newly_finished = ops.logical_and(ends, rank < num_beams)
        newly_finished = ops.logical_and(
            newly_finished, ops.logical_not(ops.expand_dims(state.done, -1))
        )
        new_scores = ops.where(
            newly_finished, top_log_probs / penalty, NEGATIVE_INFINITY
        )
        merged_scores = ops.concatenate([state.finished_scores, new_scores], axis=1)
        merged_sequences = ops.concatenate(
            [state.finished_sequences, top_sequences], axis=1
        )
        finished_scores, kept = ops.top_k(merged_scores, num_beams)
        finished_sequences = _gather_beams(merged_sequences, ops.cast(kept, "int32"))

        # Live: the best extensions that do not end.
        live_candidates = ops.where(ends, NEGATIVE_INFINITY, top_log_probs)
        live_log_probs, kept = ops.top_k(live_candidates, num_beams)
        kept = ops.cast(kept, "int32")

        # Done: `num_beams` finished, none of which the best live hypothesis
        # scored at its current length beats (Hugging Face's default rule);
        # with early stopping, `num_beams` finished.
        full = finished_scores[:, -1] > NEGATIVE_INFINITY
        settled = full
        if not early_stopping:
            best_live = live_log_probs[:, 0] / penalty
            settled = ops.logical_and(full, best_live <= finished_scores[:, -1])
        done = ops.logical_or(state.done, settled)
        return BeamState(
            index=index + 1,
            sequences=_gather_beams(top_sequences, kept),
            live_log_probs=live_log_probs,
            cache=_reorder_cache(cache, _gather_beams(parents, kept), num_beams),
            finished_sequences=finished_sequences,
            finished_scores=finished_scores,
            done=ops.logical_or(done, index + 1 >= state.limits),
            limits=state.limits,
        )

    return step


def beam_outputs(state):
    """`(token_ids, scores)` of a `BeamState`: `(batch, num_beams,
    max_length)` int32 n-best outputs, best first (start token left out,
    padding after the end token), and `(batch, num_beams)` float32
    length-normalized scores."""
    return state.finished_sequences[:, :, 1:], state.finished_scores


def beam_search(
    next_token_logits,
    cache,
    batch_size,
    num_beams,
    max_length,
    length_penalty_alpha=0.6,
    output_limits=None,
    resize_cache=None,
    first_cache_length=16,
    longest_output=None,
    compile_step=None,
    length_normalization="gnmt",
    early_stopping=False,
):
    """Beam search with the GNMT length penalty (Vaswani et al. 2017, §6.1).

    Live and finished hypotheses are kept apart, as in fairseq: at each step
    the `2 * num_beams` best extensions of the live beams are ranked; an
    extension that ends the sentence is finished if it ranks among the first
    `num_beams` (it would have survived in the beam), and the best
    `num_beams` extensions that do not end stay live. Finished hypotheses
    are ranked by `log_prob / length_penalty(length)`, the length counting
    the end token. A sentence is done when it has `num_beams` finished
    hypotheses and its best live one, scored at its current length, does not
    beat the worst of them (Hugging Face's default stopping rule), or when it
    reaches its length limit; the loop stops when every sentence is done.
    With `num_beams=1` the result is greedy search's, for any alpha.

    CTranslate2's beam search is this search with
    `length_normalization="power"` and `early_stopping=True`: it divides by
    `length ** alpha` and ends a sentence once `num_beams` hypotheses have
    finished (fairseq's rule too). With alpha 0 it ends a sentence once its
    best extension ends, which finds the same best hypothesis as the default
    rule. A hypothesis that reaches the length limit is ended with the end
    token here and cut there.

    Args:
        next_token_logits: the step callback (module docstring). Its cache
            holds `batch * num_beams` rows, sentence-major (row
            `b * num_beams + j` is beam `j` of sentence `b`).
        cache: its initial cache.
        batch_size: number of sentences.
        num_beams: beam width.
        max_length: number of output positions (end token included), as in
            `greedy_search`.
        length_penalty_alpha: the length penalty's alpha; `0` ranks by log
            probability.
        output_limits: optional `(batch,)` per-sentence limits.
        resize_cache, first_cache_length, longest_output, compile_step: as in
            `greedy_search`.
        length_normalization: `"gnmt"` (`length_penalty`) or `"power"`
            (`power_length_penalty`); the length counts the end token.
        early_stopping: end a sentence once `num_beams` hypotheses have
            finished, instead of once no live hypothesis can beat them.

    Returns:
        `beam_outputs`: `(batch, num_beams, max_length)` int32 n-best
        outputs, best first (start token not included, padding after the end
        token), and `(batch, num_beams)` float32 length-normalized scores.
    """
    step = beam_step(
        next_token_logits,
        num_beams,
        length_penalty_alpha,
        length_normalization,
        early_stopping,
    )
    state = staged_while_loop(
        keep_going,
        step,
        beam_start(cache, batch_size, num_beams, max_length, output_limits),
        max_length,
        resize_cache,
        first_cache_length,
        longest_output,
        compile_step,
    )
    return beam_outputs(state)
