"""`Generator`: the compiled translation search of a `Transformer`."""

import keras
from keras import ops

from keras_transformer.decoding.cache import cache_stages
from keras_transformer.decoding.search import (
    beam_search,
    greedy_search,
    output_length_limits,
)
from keras_transformer.decoding.settings import SearchSettings
from keras_transformer.decoding.step_compiler import search_step_compiler
from keras_transformer.decoding.transformer_step import (
    resize_self_attention_cache,
    transformer_next_token_logits,
)


class Generator(keras.Model):
    """Compiled translation search for a `Transformer`: source ids to target ids.

    The search is the model's `call`, so `generate` (Keras'
    `predict_on_batch`) compiles it the way Keras compiles prediction on the
    backend: `jax.jit` on JAX, a `tf.function` (XLA with `jit_compile=True`)
    on TensorFlow. On PyTorch the search runs eagerly, or, with
    `jit_compile=True`, its loop runs in Python around a step compiled by
    `torch.compile` (`step_compiler`). A new source shape compiles again, so
    callers pad sources to a few lengths (the `Translator` does).

    Args:
        model: a `keras_transformer.models.Transformer`.
        settings: `SearchSettings` (beam width, length penalty, output
            limits; default: the paper's). A `TranslationSettings` works too.
        first_cache_length: the self-attention cache starts this long and
            doubles when the outputs reach its end (`cache.cache_stages`), so
            short outputs do not pay for the longest allowed; `None`: one
            cache of the full length.
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

    def __init__(
        self,
        model,
        settings=None,
        first_cache_length=16,
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
        self.first_cache_length = first_cache_length
        self._compile_step = search_step_compiler(jit_compile)
        # Where the step is compiled, Keras must not compile the whole search.
        self.compile(jit_compile=False if self._compile_step else jit_compile)
        self.built = True

    def search_length(self, source_length):
        """Static number of output positions for sources of `source_length`."""
        settings = self.settings
        needed = int(-(-source_length * settings.max_length_ratio // 1))
        return max(1, min(self.longest_output, needed + settings.max_length_offset))

    def call(self, encoder_token_ids):
        # Keras' predict_step calls this (statelessly on JAX).
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
        # The cache grows in stages; for a tensor length (above), up to the
        # static cap.
        stages = cache_stages(max_length, self.first_cache_length, self.longest_output)
        search_options = {"compile_step": self._compile_step}
        if len(stages) > 1:
            search_options |= {
                "resize_cache": resize_self_attention_cache,
                "first_cache_length": self.first_cache_length,
                "longest_output": self.longest_output,
            }
        next_token_logits, cache = transformer_next_token_logits(
            self.model, encoder_token_ids, stages[0], settings.num_beams
        )
        if settings.num_beams == 1:
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
                settings.num_beams,
                max_length,
                settings.length_penalty,
                limits,
                length_normalization=settings.length_normalization,
                early_stopping=settings.early_stopping,
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
