"""Greedy and beam search over a next-token callback, with a key/value cache.

Both searches are written with `keras.ops` alone and loop with
`keras.ops.while_loop`, so they compile into one XLA program on JAX and one
graph on TensorFlow, and run as a plain loop on PyTorch. They know nothing
about the model: each step calls

    logits, cache = next_token_logits(token_ids, cache, index)

with the `(batch,)` token ids at position `index`, and gets back the
`(batch, vocabulary_size)` logits for position `index + 1` and the updated
cache (any nest of tensors whose first axis is the batch).
`transformer_next_token_logits` builds that callback for a `Transformer`: the
encoder runs once, the cross-attention keys/values are computed once, and the
self-attention cache is written at the step index. The cache has a static
shape (compilers need one) that grows in doubling stages (`cache_stages`):
a step reads and reorders a cache at most twice the length generated so far,
not one sized for the longest output allowed.

Lengths follow Vaswani et al. 2017, §6.1: the output of a sentence may be at
most `max_length_ratio * source_length + max_length_offset` tokens (input
length + 50 in the paper), and never more than the static `max_length`. A
hypothesis that reaches its limit is ended with the end token.

`Generator` wraps a search in a Keras model's `predict_step`, so Keras
compiles it with the backend's compiler (`jax.jit`, `tf.function`). PyTorch
cannot compile the loop; with `jit_compile=True` it compiles the loop's body
(`search_step_compiler`, the one backend-specific piece).
"""

import keras
import numpy as np
from keras import ops

from keras_transformer.data.special_tokens import END_ID, PAD_ID, START_ID
from keras_transformer.search_step_compiler import search_step_compiler

NEGATIVE_INFINITY = float("-inf")


def length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al. 2016, eq. 14).

    A hypothesis's score is its log probability divided by this; `alpha = 0`
    ranks by log probability alone. Vaswani et al. used `alpha = 0.6` (§6.1).
    """
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


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


def _restrict_choices(log_probs, must_end):
    """Sets the log probabilities of tokens that may not come next to -inf.

    Padding and the start token never come next (as in fairseq); where
    `must_end` is True (it broadcasts against `log_probs[..., :1]`) only the
    end token may.
    """
    vocabulary = ops.arange(ops.shape(log_probs)[-1])
    special = ops.logical_or(vocabulary == PAD_ID, vocabulary == START_ID)
    forbidden = ops.logical_or(special, ops.logical_and(must_end, vocabulary != END_ID))
    return ops.where(forbidden, NEGATIVE_INFINITY, log_probs)


def _write_column(sequences, index, tokens):
    """Returns `sequences` with `tokens` written at position `index` of the
    last axis (`index` may be a tensor)."""
    positions = ops.arange(ops.shape(sequences)[-1])
    return ops.where(positions == index, ops.expand_dims(tokens, -1), sequences)


def cache_stages(max_length, first_stage, longest=None):
    """Cache lengths of a search: `first_stage`, doubling, up to `max_length`.

    A self-attention cache of static shape costs every step in proportion to
    its length (each step reads it, and beam search reorders it), so the
    searches start with a short cache and grow it when the output reaches
    its end: a step then costs in proportion to the length generated so far,
    within a factor of 2, instead of to the longest output allowed.

    A search length known only at run time (a tensor, in an exported graph
    whose sources have no static length) stages up to `longest`, its static
    bound; the search stops at the tensor length inside whichever stage it
    falls. Without `longest` it keeps one cache of `max_length`.
    """
    if first_stage is None:
        return [max_length]
    if not isinstance(max_length, int):
        if longest is None:
            return [max_length]
        max_length = longest
    stages = [min(first_stage, max_length)]
    while stages[-1] < max_length:
        stages.append(min(2 * stages[-1], max_length))
    return stages


def _staged_while_loop(
    keep_going,
    step,
    state,
    max_length,
    cache_position,
    resize_cache,
    first_stage,
    longest,
    compile_step=None,
):
    """`ops.while_loop` over output positions; with `resize_cache`, the cache
    (`state[cache_position]`) is resized by `resize_cache(cache, length)` to
    each of `cache_stages(max_length, first_stage, longest)` before its
    positions; with `compile_step`, the loop runs `compile_step(step)`."""
    if compile_step is not None:
        step = compile_step(step)
    stages = [max_length]
    if resize_cache is not None:
        stages = cache_stages(max_length, first_stage, longest)
    start = 0
    for stage in stages:
        if resize_cache is not None:
            cache = resize_cache(state[cache_position], stage)
            state = (*state[:cache_position], cache, *state[cache_position + 1 :])

        def within_stage(index, *rest, stage=stage):
            return ops.logical_and(index < stage, keep_going(index, *rest))

        state = ops.while_loop(
            within_stage,
            step,
            state,
            maximum_iterations=stage - start if isinstance(stage, int) else stage,
        )
        start = stage
    return state


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
            stages from `first_cache_length` (`cache_stages`).
        first_cache_length: the first stage's length.
        longest_output: a static bound on a tensor `max_length`, which lets
            its cache grow in stages too (`cache_stages`).
        compile_step: optional function that compiles the loop's body, for a
            backend that runs the loop itself in Python
            (`search_step_compiler`: `torch.compile` on PyTorch).

    Returns:
        `(token_ids, scores)`: `(batch, max_length)` int32 output tokens (the
        start token is not included; the end token is, padding follows it) and
        `(batch,)` float32 log probabilities of the outputs.
    """
    if output_limits is None:
        output_limits = ops.full((batch_size,), max_length, "int32")
    tokens = ops.zeros((batch_size, max_length + 1), "int32")
    tokens = _write_column(tokens, 0, ops.full((batch_size,), START_ID, "int32"))
    scores = ops.zeros((batch_size,), "float32")
    finished = ops.zeros((batch_size,), "bool")

    def keep_going(index, tokens, cache, scores, finished):
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(finished)))

    def step(index, tokens, cache, scores, finished):
        logits, cache = next_token_logits(ops.take(tokens, index, axis=1), cache, index)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        must_end = ops.expand_dims(index + 1 >= output_limits, -1)
        log_probs = _restrict_choices(log_probs, must_end)
        next_tokens = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        next_tokens = ops.where(finished, PAD_ID, next_tokens)
        chosen = ops.take_along_axis(log_probs, next_tokens[:, None], axis=-1)[:, 0]
        scores = scores + ops.where(finished, 0.0, chosen)
        tokens = _write_column(tokens, index + 1, next_tokens)
        finished = ops.logical_or(finished, next_tokens == END_ID)
        return index + 1, tokens, cache, scores, finished

    _, tokens, _, scores, _ = _staged_while_loop(
        keep_going,
        step,
        (ops.convert_to_tensor(0, "int32"), tokens, cache, scores, finished),
        max_length,
        2,
        resize_cache,
        first_cache_length,
        longest_output,
        compile_step,
    )
    return tokens[:, 1:], scores


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

    Args:
        next_token_logits: the step callback (module docstring). Its cache
            holds `batch * num_beams` rows, sentence-major (row
            `b * num_beams + j` is beam `j` of sentence `b`).
        cache: its initial cache.
        batch_size: number of sentences.
        num_beams: beam width.
        max_length: number of output positions (end token included), as in
            `greedy_search`.
        length_penalty_alpha: the GNMT alpha; `0` ranks by log probability.
        output_limits: optional `(batch,)` per-sentence limits.
        resize_cache, first_cache_length, longest_output, compile_step: as in
            `greedy_search`.

    Returns:
        `(token_ids, scores)`: `(batch, num_beams, max_length)` int32 n-best
        outputs, best first (start token not included, padding after the end
        token), and `(batch, num_beams)` float32 length-normalized scores.
    """
    if output_limits is None:
        output_limits = ops.full((batch_size,), max_length, "int32")
    sequences = ops.zeros((batch_size, num_beams, max_length + 1), "int32")
    start = ops.full((batch_size, num_beams), START_ID, "int32")
    sequences = _write_column(sequences, 0, start)
    # Only the first beam is live at the start, so the beams do not repeat.
    # A dense (batch, beams) tensor, like the step's own outputs: a broadcast
    # view (stride 0) would make torch.compile compile the step once more.
    first_beam = ops.broadcast_to(ops.arange(num_beams) == 0, (batch_size, num_beams))
    live_log_probs = ops.where(first_beam, 0.0, NEGATIVE_INFINITY)
    finished_sequences = ops.zeros_like(sequences)
    finished_scores = ops.full((batch_size, num_beams), NEGATIVE_INFINITY)
    done = ops.zeros((batch_size,), "bool")
    rank = ops.arange(2 * num_beams)

    def keep_going(index, *state):
        done = state[-1]
        return ops.logical_and(index < max_length, ops.logical_not(ops.all(done)))

    def step(
        index,
        sequences,
        live_log_probs,
        cache,
        finished_sequences,
        finished_scores,
        done,
    ):
        tokens = ops.reshape(ops.take(sequences, index, axis=2), (-1,))
        logits, cache = next_token_logits(tokens, cache, index)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        vocabulary_size = ops.shape(log_probs)[-1]
        log_probs = ops.reshape(log_probs, (batch_size, num_beams, vocabulary_size))
        must_end = ops.reshape(index + 1 >= output_limits, (batch_size, 1, 1))
        log_probs = _restrict_choices(log_probs, must_end)

        # (batch, beams * vocabulary): every extension of every live beam.
        candidates = ops.reshape(
            ops.expand_dims(live_log_probs, -1) + log_probs, (batch_size, -1)
        )
        top_log_probs, top_indices = ops.top_k(candidates, 2 * num_beams)
        top_indices = ops.cast(top_indices, "int32")
        parents = top_indices // vocabulary_size
        top_tokens = top_indices % vocabulary_size
        top_sequences = _write_column(
            _gather_beams(sequences, parents), index + 1, top_tokens
        )
        ends = top_tokens == END_ID

        # Finished: extensions that end within the first `num_beams` ranks.
        newly_finished = ops.logical_and(ends, rank < num_beams)
        newly_finished = ops.logical_and(
            newly_finished, ops.logical_not(ops.expand_dims(done, -1))
        )
        new_scores = top_log_probs / length_penalty(index + 1, length_penalty_alpha)
        new_scores = ops.where(newly_finished, new_scores, NEGATIVE_INFINITY)
        merged_scores = ops.concatenate([finished_scores, new_scores], axis=1)
        merged_sequences = ops.concatenate([finished_sequences, top_sequences], axis=1)
        finished_scores, kept = ops.top_k(merged_scores, num_beams)
        finished_sequences = _gather_beams(merged_sequences, ops.cast(kept, "int32"))

        # Live: the best extensions that do not end.
        live_candidates = ops.where(ends, NEGATIVE_INFINITY, top_log_probs)
        live_log_probs, kept = ops.top_k(live_candidates, num_beams)
        kept = ops.cast(kept, "int32")
        sequences = _gather_beams(top_sequences, kept)
        cache = _reorder_cache(cache, _gather_beams(parents, kept), num_beams)

        # Done: `num_beams` finished, none of which the best live hypothesis
        # scored at its current length beats (Hugging Face's default rule).
        full = finished_scores[:, -1] > NEGATIVE_INFINITY
        best_live = live_log_probs[:, 0] / length_penalty(
            index + 1, length_penalty_alpha
        )
        settled = ops.logical_and(full, best_live <= finished_scores[:, -1])
        done = ops.logical_or(done, settled)
        done = ops.logical_or(done, index + 1 >= output_limits)
        return (
            index + 1,
            sequences,
            live_log_probs,
            cache,
            finished_sequences,
            finished_scores,
            done,
        )

    state = _staged_while_loop(
        keep_going,
        step,
        (
            ops.convert_to_tensor(0, "int32"),
            sequences,
            live_log_probs,
            cache,
            finished_sequences,
            finished_scores,
            done,
        ),
        max_length,
        3,
        resize_cache,
        first_cache_length,
        longest_output,
        compile_step,
    )
    finished_sequences, finished_scores = state[4], state[5]
    return finished_sequences[:, :, 1:], finished_scores


def resize_self_attention_cache(cache, length):
    """Pads (with zeros) or cuts a `Transformer`'s self-attention cache
    `(batch, num_layers, 2, cache_len, num_heads, head_dim)` to `length`
    positions; a search's `resize_cache`."""
    current = cache.shape[3]
    if current == length:
        return cache
    if current > length:
        return cache[:, :, :, :length]
    padding = [[0, 0]] * 6
    padding[3] = [0, length - current]
    return ops.pad(cache, padding)


def transformer_next_token_logits(model, encoder_token_ids, max_length, num_beams=1):
    """The step callback and initial cache for decoding with a `Transformer`.

    The encoder runs here, once; so does the computation of every decoder
    block's cross-attention keys and values. With `num_beams > 1` both are
    repeated per beam (sentence-major).

    Args:
        model: a `keras_transformer.models.Transformer`.
        encoder_token_ids: `(batch, source_len)` int source ids, padded with
            `model.padding_id`.
        max_length: number of target positions the self-attention cache holds.
        num_beams: rows per sentence.

    Returns:
        `(next_token_logits, cache)` for `greedy_search` / `beam_search`.
    """
    encoder_padding_mask = ops.not_equal(encoder_token_ids, model.padding_id)
    encoder_output = model.encode(encoder_token_ids, encoder_padding_mask)
    cross_attention_cache = model.compute_cross_attention_cache(encoder_output)
    if num_beams > 1:
        cross_attention_cache = ops.repeat(cross_attention_cache, num_beams, axis=0)
        encoder_padding_mask = ops.repeat(encoder_padding_mask, num_beams, axis=0)
    batch_size = ops.shape(cross_attention_cache)[0]
    cache = model.initial_self_attention_cache(batch_size, max_length)

    def next_token_logits(token_ids, cache, index):
        logits, cache = model.decode_with_cache(
            ops.expand_dims(token_ids, 1),
            cache,
            cross_attention_cache,
            index,
            encoder_padding_mask,
        )
        return logits[:, 0, :], cache

    return next_token_logits, cache


class Generator(keras.Model):
    """Compiled translation search for a `Transformer`: source ids to target ids.

    The search is the model's `call`, so `generate` (Keras'
    `predict_on_batch`) compiles it the way Keras compiles prediction on the
    backend: `jax.jit` on JAX, a `tf.function` (XLA with `jit_compile=True`)
    on TensorFlow. On PyTorch the search runs eagerly, or, with
    `jit_compile=True`, its loop runs in Python around a step compiled by
    `torch.compile` (`search_step_compiler`). A new source shape compiles
    again, so callers pad sources to a few lengths (the `Translator` does).

    Args:
        model: a `keras_transformer.models.Transformer`.
        num_beams: beam width; `1` searches greedily.
        length_penalty: GNMT alpha of the beam search (0.6 in the paper).
        max_length_ratio, max_length_offset: a sentence's output is at most
            `ratio * source_length + offset` tokens (§6.1: input length + 50).
        max_output_length: the hard cap on output tokens, end token included.
        first_cache_length: the self-attention cache starts this long and
            doubles when the outputs reach its end (`cache_stages`), so short
            outputs do not pay for the longest allowed; `None`: one cache of
            the full length.
        jit_compile: `"auto"`, `True` or `False`, as in `Model.compile`
            (`"auto"` is eager on PyTorch, as in Keras: compiling the step
            took about a minute on a 2-core CPU, and the compiled search then
            ran 1.16-1.23× the eager one there; docs/decoding.md).

    Example:

    >>> model = Transformer(vocabulary_size=20, num_layers=1, num_heads=2,
    ...                     hidden_dim=8, intermediate_dim=16)
    >>> generator = Generator(model, num_beams=2, max_output_length=6)
    >>> generator.generate(np.array([[5, 6, 7, 0]]))["token_ids"].shape
    (1, 2, 6)
    """

    def __init__(
        self,
        model,
        num_beams=4,
        length_penalty=0.6,
        max_length_ratio=1.0,
        max_length_offset=50,
        max_output_length=256,
        first_cache_length=16,
        jit_compile="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_beams < 1:
            raise ValueError(f"num_beams must be at least 1; received {num_beams}.")
        if max_output_length < 1:
            raise ValueError(
                f"max_output_length must be at least 1; received {max_output_length}."
            )
        if first_cache_length is not None and first_cache_length < 1:
            raise ValueError(
                "first_cache_length must be at least 1, or None for one cache "
                f"of the full length; received {first_cache_length}."
            )
        self.model = model
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.max_output_length = max_output_length
        self.first_cache_length = first_cache_length
        self._compile_step = search_step_compiler(jit_compile)
        # Where the step is compiled, Keras must not compile the whole search.
        self.compile(jit_compile=False if self._compile_step else jit_compile)
        self.built = True

    def search_length(self, source_length):
        """Static number of output positions for sources of `source_length`."""
        needed = int(-(-source_length * self.max_length_ratio // 1))
        return max(1, min(self.max_output_length, needed + self.max_length_offset))

    def call(self, encoder_token_ids):
        # Keras' predict_step calls this (statelessly on JAX).
        encoder_token_ids = ops.cast(encoder_token_ids, "int32")
        batch_size = ops.shape(encoder_token_ids)[0]
        source_length = encoder_token_ids.shape[1]
        # A traced TensorFlow function may see an unknown source length (an
        # exported signature, or shapes relaxed on retracing): the length of
        # the search is then a tensor, which TensorFlow's graphs allow.
        if source_length is None:
            max_length = output_length_limits(
                ops.shape(encoder_token_ids)[1],
                self.max_output_length,
                self.max_length_ratio,
                self.max_length_offset,
            )
        else:
            max_length = self.search_length(source_length)
        source_lengths = ops.sum(
            ops.cast(encoder_token_ids != self.model.padding_id, "int32"), axis=1
        )
        limits = output_length_limits(
            source_lengths, max_length, self.max_length_ratio, self.max_length_offset
        )
        # The cache grows in stages; for a tensor length (above), up to the
        # static cap.
        stages = cache_stages(
            max_length, self.first_cache_length, self.max_output_length
        )
        search_options = {"compile_step": self._compile_step}
        if len(stages) > 1:
            search_options |= {
                "resize_cache": resize_self_attention_cache,
                "first_cache_length": self.first_cache_length,
                "longest_output": self.max_output_length,
            }
        next_token_logits, cache = transformer_next_token_logits(
            self.model, encoder_token_ids, stages[0], self.num_beams
        )
        if self.num_beams == 1:
            token_ids, scores = greedy_search(
                next_token_logits,
                cache,
                batch_size,
                max_length,
                limits,
                **search_options,
            )
            token_ids, scores = token_ids[:, None], scores[:, None]
        else:
            token_ids, scores = beam_search(
                next_token_logits,
                cache,
                batch_size,
                self.num_beams,
                max_length,
                self.length_penalty,
                limits,
                **search_options,
            )
        return {"token_ids": token_ids, "scores": scores}

    def generate(self, encoder_token_ids):
        """Searches a batch of padded source ids `(batch, source_len)`.

        Returns:
            A dict of numpy arrays: `token_ids` `(batch, beams, length)` (best
            first; one row for greedy search; the end token ends each row,
            padding follows) and `scores` `(batch, beams)`: length-normalized
            log probabilities for beam search, log probabilities for greedy.
        """
        return self.predict_on_batch(encoder_token_ids)


# Sources are padded to a multiple of this many tokens, and batches to a power
# of two, so a compiled search sees few distinct shapes.
SOURCE_LENGTH_STEP = 8


def _padded_batch_size(count, batch_size):
    padded = 1
    while padded < count:
        padded *= 2
    return min(padded, batch_size)


def search_in_batches(generator, source_ids, batch_size=64, verbose=False):
    """Searches tokenized sources with a `Generator`, in batches, longest first.

    Sources of similar length share a batch; each batch is padded to a
    multiple of 8 tokens and to a power-of-two number of rows (at most
    `batch_size`), so a compiled search sees few distinct shapes.

    Args:
        generator: a `Generator`.
        source_ids: list of int arrays (no padding).
        batch_size: sentences per search.
        verbose: show a progress bar.

    Returns:
        `(token_ids, scores)`: per source, an int array `(num_best, length)`
        and a float array `(num_best,)`, best first.
    """
    order = sorted(range(len(source_ids)), key=lambda i: -len(source_ids[i]))
    results = [None] * len(source_ids)
    progress = keras.utils.Progbar(len(source_ids), unit_name="sentence")
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        longest = max(1, max(len(source_ids[i]) for i in chosen))
        length = -(-longest // SOURCE_LENGTH_STEP) * SOURCE_LENGTH_STEP
        rows = _padded_batch_size(len(chosen), batch_size)
        batch = np.full((rows, length), PAD_ID, "int32")
        for row, index in enumerate(chosen):
            batch[row, : len(source_ids[index])] = source_ids[index]
        outputs = generator.generate(batch)
        for row, index in enumerate(chosen):
            results[index] = (outputs["token_ids"][row], outputs["scores"][row])
        if verbose:
            progress.add(len(chosen))
    return [r[0] for r in results], [r[1] for r in results]
