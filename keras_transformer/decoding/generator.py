"""`Generator`: the compiled translation search of a `Transformer`."""

from types import SimpleNamespace

import keras
import numpy as np
from keras import ops

from keras_transformer.decoding.cache import cache_stages, loop_until, staged_while_loop
from keras_transformer.decoding.search import (
    beam_outputs,
    beam_start,
    beam_step,
    greedy_outputs,
    greedy_start,
    greedy_step,
    keep_going,
    output_length_limits,
)
from keras_transformer.decoding.segments import SHRINK_FACTOR, search_in_segments
from keras_transformer.decoding.settings import SearchSettings
from keras_transformer.decoding.step_compiler import search_step_compiler
from keras_transformer.decoding.transformer_step import (
    resize_self_attention_cache,
    transformer_search_context,
    transformer_step_callback,
)


class Generator(keras.Model):
    """Compiled translation search for a `Transformer`: source ids to target ids.

    The whole search is the model's `call`, so Keras' `predict_on_batch`
    compiles it the way Keras compiles prediction on the backend: `jax.jit`
    on JAX, a `tf.function` (XLA with `jit_compile=True`) on TensorFlow. On
    PyTorch the search runs eagerly, or, with `jit_compile=True`, its loop
    runs in Python around a step compiled by `torch.compile`
    (`step_compiler`). `generate` runs the same search in compiled segments
    and takes the sentences that are done out of the batch between them, as
    CTranslate2 does (`segments`): a segment ends when the sentences still
    searching fit in a quarter of its rows, or at the end of a cache stage. A new
    shape (batch, source length, cache stage) compiles again, so callers pad
    sources to a few lengths (the `Translator` does).

    Args:
        model: a `keras_transformer.models.Transformer`.
        settings: `SearchSettings` (beam width, length penalty, output
            limits; default: the paper's). A `TranslationSettings` works too.
        first_cache_length: the self-attention cache starts this long and
            doubles when the outputs reach its end (`cache.cache_stages`), so
            short outputs do not pay for the longest allowed; `None`: one
            cache of the full length.
        drop_finished: whether `generate` takes sentences whose search is
            done out of the batch (`segments`); `False`: the whole batch
            searches to the end, in one call of the model. `"auto"`: it
            does for a batch shape searched more than `auto_drop_after`
            times already (the segments compile more programs, which pays
            back over a long job or a server's life, not over a few
            batches), on a CPU, unless `torch.compile` compiles the step
            (each smaller batch would compile it again, for about as long
            as the first) or a TensorFlow distribution strategy replicates
            predict. On an accelerator each segment would carry the cache
            through host memory, so there `"auto"` searches whole batches.
        jit_compile: `"auto"`, `True` or `False`, as in `Model.compile`
            (`"auto"` is eager on PyTorch, as in Keras: compiling the step
            took about a minute on a 2-core CPU, and the compiled search then
            ran 1.16-1.23× the eager one there; docs/decoding.md).
        name: the Keras model's name.
        **overrides: fields of `SearchSettings` (`num_beams=1`, ...) that
            replace those of `settings`.

    Example:

    >>> model = Transformer(vocabulary_size=20, num_layers=1, num_heads=2,
    ...                     hidden_dim=8, intermediate_dim=16)
    >>> generator = Generator(model, num_beams=2, max_output_length=6)
    >>> generator.generate(np.array([[5, 6, 7, 0]]))["token_ids"].shape
    (1, 2, 6)
    """

    # `drop_finished="auto"` drops finished sentences from a batch shape's
    # next search once it has searched this many batches of that shape: on
    # a 2-core CPU the segments' extra programs compile in about what
    # dropping saves over 30 batches (docs/decoding.md).
    auto_drop_after = 32

    def __init__(
        self,
        model,
        settings=None,
        first_cache_length=16,
        drop_finished="auto",
        jit_compile="auto",
        name=None,
        **overrides,
    ):
        super().__init__(name=name)
        self.settings = SearchSettings.build(settings, **overrides)
        if first_cache_length is not None and first_cache_length < 1:
            raise ValueError(
                "first_cache_length must be at least 1, or None for one cache "
                f"of the full length; received {first_cache_length}."
            )
        self.model = model
        # The most output positions: max_output_length, or fewer where a
        # learned position table ends first; that table also bounds the
        # sources' length, padding included (`longest_source`, else None).
        self.longest_output = self.settings.max_output_length
        self.longest_source = None
        if getattr(model, "position_encoding", None) == "learned":
            self.longest_output = min(self.longest_output, model.max_sequence_length)
            self.longest_source = model.max_sequence_length
        if drop_finished not in ("auto", True, False):
            raise ValueError(
                "drop_finished must be True, False or 'auto'; received "
                f"{drop_finished!r}."
            )
        if drop_finished != "auto":
            drop_finished = bool(drop_finished)
        self.first_cache_length = first_cache_length
        self._compile_step = search_step_compiler(jit_compile)
        # Under a TensorFlow distribution strategy, Keras runs predict on
        # every replica and concatenates their outputs, loop state included.
        replicated = _predict_replicas(self) > 1
        if drop_finished == "auto" and (
            self._compile_step is not None or not _on_cpu() or replicated
        ):
            drop_finished = False
        elif drop_finished is True and replicated:
            raise ValueError(
                "drop_finished=True needs one replica: under this TensorFlow "
                f"distribution strategy ({_predict_replicas(self)} replicas) "
                "Keras runs predict on every replica and concatenates their "
                "outputs. Use drop_finished='auto' or False."
            )
        self.drop_finished = drop_finished
        self._searches_by_shape = {}
        # Where the step is compiled, Keras must not compile the whole search.
        jit_compile = False if self._compile_step else jit_compile
        self.compile(jit_compile=jit_compile)
        # The pieces of a segmented search, each compiled by Keras. A plain
        # namespace: they share this model's variables, not its layers.
        self._segment_programs = SimpleNamespace(
            start=_SearchProgram(model, self.search_start, jit_compile, "search_start"),
            advance=_SearchProgram(model, self._advance, jit_compile, "search_segment"),
        )
        self.built = True

    def search_length(self, source_length):
        """Static number of output positions for sources of `source_length`."""
        settings = self.settings
        needed = int(-(-source_length * settings.max_length_ratio // 1))
        return max(1, min(self.longest_output, needed + settings.max_length_offset))

    def _cache_stages(self, max_length):
        """The self-attention cache's lengths over a search of `max_length`
        positions (`cache.cache_stages`; a tensor length stages up to
        `longest_output`)."""
        return cache_stages(max_length, self.first_cache_length, self.longest_output)

    def call(self, encoder_token_ids):
        # The whole search, one program: Keras' predict_step calls this
        # (statelessly on JAX), and so does an exported signature.
        state, context = self.search_start(encoder_token_ids)
        max_length = state.max_length
        # The cache grows in stages; for a tensor length, up to the static cap.
        resize = (
            resize_self_attention_cache
            if len(self._cache_stages(max_length)) > 1
            else None
        )
        state = staged_while_loop(
            keep_going,
            self.search_step(context),
            state,
            max_length,
            resize,
            self.first_cache_length,
            self.longest_output,
            self._compile_step,
        )
        token_ids, scores = self.search_outputs(state)
        return {"token_ids": token_ids, "scores": scores}

    def search_start(self, encoder_token_ids):
        """The start of a search: its loop state (the self-attention cache
        holds the first cache stage) and its context (the encoder's output
        as cross-attention keys and values, and the sources' mask;
        `transformer_search_context`)."""
        settings = self.settings
        encoder_token_ids = ops.cast(encoder_token_ids, "int32")
        batch_size = ops.shape(encoder_token_ids)[0]
        source_length = encoder_token_ids.shape[1]
        # A traced TensorFlow function may see an unknown source length (an
        # exported signature, or shapes relaxed on retracing): the length of
        # the search is then a tensor, which TensorFlow's graphs allow.
        if source_length is None:
            max_length = output_length_limits(
                ops.shape(encoder_token_ids)[1],
                self.longest_output,
                settings.max_length_ratio,
                settings.max_length_offset,
            )
        else:
            max_length = self.search_length(source_length)
        source_lengths = ops.sum(
            ops.cast(encoder_token_ids != self.model.padding_id, "int32"), axis=1
        )
        limits = output_length_limits(
            source_lengths,
            max_length,
            settings.max_length_ratio,
            settings.max_length_offset,
        )
        context = transformer_search_context(self.model, encoder_token_ids)
        cache = self.model.initial_self_attention_cache(
            batch_size * settings.num_beams, self._cache_stages(max_length)[0]
        )
        if settings.num_beams == 1:
            state = greedy_start(cache, batch_size, max_length, limits)
        else:
            state = beam_start(
                cache, batch_size, settings.num_beams, max_length, limits
            )
        return state, context

    def search_step(self, context):
        """The search's step, `step(state) -> state`, against `context`."""
        settings = self.settings
        next_token_logits = transformer_step_callback(self.model, context)
        if settings.num_beams == 1:
            return greedy_step(next_token_logits)
        return beam_step(
            next_token_logits,
            settings.num_beams,
            settings.length_penalty,
            settings.length_normalization,
            settings.early_stopping,
        )

    def search_outputs(self, state):
        """`(token_ids, scores)` of a search's last state: `(batch, beams,
        max_length)` and `(batch, beams)`, one row for greedy search."""
        if self.settings.num_beams == 1:
            token_ids, scores = greedy_outputs(state)
            return token_ids[:, None], scores[:, None]
        return beam_outputs(state)

    def generate(self, encoder_token_ids):
        """Searches a batch of padded source ids `(batch, source_len)`.

        With `drop_finished`, the search runs in compiled segments and
        sentences that are done leave the batch between them (`segments`);
        without (for `"auto"`: the first `auto_drop_after` batches of each
        shape), or for a batch of fewer than 4 sentences (which could not
        shrink), it is one call of the model (`predict_on_batch`). Both give
        the same outputs.

        Returns:
            A dict of numpy arrays: `token_ids` `(batch, beams, length)` (best
            first; one row for greedy search; the end token ends each row,
            padding follows) and `scores` `(batch, beams)`: length-normalized
            log probabilities for beam search, log probabilities for greedy.
        """
        if not self._drops_finished(np.shape(encoder_token_ids)):
            return self.predict_on_batch(encoder_token_ids)
        programs = self._segment_programs
        state, context = programs.start.predict_on_batch(encoder_token_ids)
        token_ids, scores = search_in_segments(
            state,
            context,
            lambda state, context, end: programs.advance.predict_on_batch(
                {"state": state, "context": context, "end": np.int32(end)}
            ),
            self._cache_stages(state.max_length),
            self.settings.num_beams,
            resize_self_attention_cache,
            self.search_outputs,
        )
        return {"token_ids": token_ids, "scores": scores}

    def _drops_finished(self, shape):
        # A batch of fewer rows than SHRINK_FACTOR never shrinks.
        if self.drop_finished is False or shape[0] < SHRINK_FACTOR:
            return False
        if self.drop_finished == "auto":
            searches = self._searches_by_shape.get(shape, 0) + 1
            self._searches_by_shape[shape] = searches
            return searches > self.auto_drop_after
        return True

    def _advance(self, inputs):
        # One segment: the loop from `state` while positions before `end`
        # are left and the sentences searching need all the rows.
        step = self.search_step(inputs["context"])
        if self._compile_step is not None:
            step = self._compile_step(step)
        rows = ops.shape(inputs["state"].done)[0]

        def keep_all_rows(state):
            searching = ops.sum(ops.cast(ops.logical_not(state.done), "int32"))
            return ops.logical_and(keep_going(state), searching * SHRINK_FACTOR > rows)

        return loop_until(keep_all_rows, step, inputs["state"], inputs["end"])


def _on_cpu():
    """Whether new tensors live on a CPU (and so the search runs there)."""
    return "cpu" in str(ops.zeros(()).device).lower()


def _predict_replicas(model):
    """How many replicas Keras runs `model`'s predict on: those of the
    TensorFlow distribution strategy it was built under, else 1."""
    strategy = getattr(model, "distribute_strategy", None)
    return getattr(strategy, "num_replicas_in_sync", 1)


class _SearchProgram(keras.Model):
    """A piece of a segmented search, `function(inputs)`, run by Keras'
    `predict_on_batch` over the variables of `model`: compiled as the
    `Generator` is."""

    def __init__(self, model, function, jit_compile, name):
        # No autocast: the loop state's float32 scores must stay float32
        # under a mixed precision policy (the layers cast their own inputs).
        super().__init__(name=name, autocast=False)
        self.model = model
        self.function = function
        self.compile(jit_compile=jit_compile)
        self.built = True

    def call(self, inputs):
        return self.function(inputs)
