"""Decoding: greedy and beam search with a key/value cache, and `Generator`.

- `search`: greedy and beam search over a next-token callback (`keras.ops`
  only; the GNMT length penalty, output limits, named loop states);
- `cache`: the self-attention cache grown in stages, and the loop per stage;
- `transformer_step`: the step callback and cache of a `Transformer`;
- `generator`: `Generator`, the search as a Keras model, compiled per
  backend;
- `settings`: `SearchSettings` and `TranslationSettings`, shared by
  `Generator`, `Translator` and the run configuration;
- `step_compiler`: PyTorch's compiled search step, the one backend import.

Vaswani et al. 2017, §6.1: beam 4, length penalty α = 0.6, outputs up to
the input length + 50.
"""

from keras_transformer.decoding.cache import cache_stages, staged_while_loop
from keras_transformer.decoding.generator import Generator
from keras_transformer.decoding.search import (
    BeamState,
    GreedyState,
    beam_search,
    greedy_search,
    length_penalty,
    output_length_limits,
    power_length_penalty,
    restrict_choices,
    write_column,
)
from keras_transformer.decoding.settings import SearchSettings, TranslationSettings
from keras_transformer.decoding.transformer_step import (
    resize_self_attention_cache,
    transformer_next_token_logits,
)

__all__ = [
    "BeamState",
    "Generator",
    "GreedyState",
    "SearchSettings",
    "TranslationSettings",
    "beam_search",
    "cache_stages",
    "greedy_search",
    "length_penalty",
    "output_length_limits",
    "power_length_penalty",
    "resize_self_attention_cache",
    "restrict_choices",
    "staged_while_loop",
    "transformer_next_token_logits",
    "write_column",
]
