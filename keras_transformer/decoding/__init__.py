"""Decoding: greedy and beam search with a key/value cache, and `Generator`.

- `search`: greedy and beam search over a next-token callback (`keras.ops`
  only; the GNMT length penalty, output limits, named loop states), each as
  its start, step and outputs;
- `cache`: the self-attention cache grown in stages, and the loop per stage;
- `segments`: a search run in compiled segments, dropping the sentences
  that are done between them (host-side, numpy);
- `transformer_step`: the step callback and cache of a `Transformer`;
- `generator`: `Generator`, the search as a Keras model, compiled per
  backend;
- `settings`: `SearchSettings` and `TranslationSettings`, shared by
  `Generator`, `Translator` and the run configuration;
- `step_compiler`: PyTorch's compiled search step, the one backend import.

Vaswani et al. 2017, §6.1: beam 4, length penalty α = 0.6, outputs up to
the input length + 50.
"""

from keras_transformer.decoding.cache import (
    cache_stages,
    loop_until,
    staged_while_loop,
)
from keras_transformer.decoding.generator import Generator
from keras_transformer.decoding.search import (
    BeamState,
    GreedyState,
    beam_outputs,
    beam_search,
    beam_start,
    beam_step,
    greedy_outputs,
    greedy_search,
    greedy_start,
    greedy_step,
    keep_going,
    length_penalty,
    output_length_limits,
    power_length_penalty,
    restrict_choices,
    write_column,
)
from keras_transformer.decoding.segments import search_in_segments, take_sentences
from keras_transformer.decoding.settings import SearchSettings, TranslationSettings
from keras_transformer.decoding.transformer_step import (
    resize_self_attention_cache,
    transformer_next_token_logits,
    transformer_search_context,
    transformer_step_callback,
)

__all__ = [
    "BeamState",
    "Generator",
    "GreedyState",
    "SearchSettings",
    "TranslationSettings",
    "beam_outputs",
    "beam_search",
    "beam_start",
    "beam_step",
    "cache_stages",
    "greedy_outputs",
    "greedy_search",
    "greedy_start",
    "greedy_step",
    "keep_going",
    "length_penalty",
    "loop_until",
    "output_length_limits",
    "power_length_penalty",
    "resize_self_attention_cache",
    "restrict_choices",
    "search_in_segments",
    "staged_while_loop",
    "take_sentences",
    "transformer_next_token_logits",
    "transformer_search_context",
    "transformer_step_callback",
    "write_column",
]
