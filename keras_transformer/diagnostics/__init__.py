"""Attention diagnostics: weights of every head, their health, and plots.

- `extract_attention(model, inputs)`: the weights of every layer and head
  (encoder self, decoder self, cross), from a pass through the explicit
  attention path, for models trained with fused attention too;
  `AttentionExtractor(model)` does it for batch after batch, compiling once.
- `translation_attention(translator, sentence)`: the same for one sentence
  and the model's translation, with SentencePiece pieces as labels.
- `AttentionMonitor`: a callback that logs per-head entropy and output share
  on a fixed batch and warns when heads collapse.
- `plot_alignment`, `plot_head_grid`, `plot_history`: image files
  (matplotlib).
"""

from keras_transformer.diagnostics.alignment import (
    TranslationAttention,
    translation_attention,
)
from keras_transformer.diagnostics.attention import (
    KINDS,
    AttentionExtractor,
    AttentionMaps,
    HeadStatistics,
    attention_statistics,
    extract_attention,
)
from keras_transformer.diagnostics.monitor import (
    AttentionHealthWarning,
    AttentionMonitor,
    HeadIssue,
    diagnose_heads,
    monitor_inputs,
)
from keras_transformer.diagnostics.plotting import (
    plot_alignment,
    plot_head_grid,
    plot_history,
    read_history,
)

__all__ = [
    "KINDS",
    "AttentionExtractor",
    "AttentionHealthWarning",
    "AttentionMaps",
    "AttentionMonitor",
    "HeadIssue",
    "HeadStatistics",
    "TranslationAttention",
    "attention_statistics",
    "diagnose_heads",
    "extract_attention",
    "monitor_inputs",
    "plot_alignment",
    "plot_head_grid",
    "plot_history",
    "read_history",
    "translation_attention",
]
