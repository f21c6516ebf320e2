"""The run configuration's schema: an `ExperimentConfig` of four sections.

Read top to bottom: the architecture (`ModelConfig`), the data
(`DataConfig`), the training (`TrainConfig`) and the decoding
(`DecodeConfig`), each field with its default, its help text (what `train
--help` shows) and its bounds (what `validate` checks).
"""

import dataclasses
import inspect
from typing import Literal

from keras_transformer.decoding.settings import TranslationSettings
from keras_transformer.models.presets import PRESETS
from keras_transformer.models.transformer import Transformer
from keras_transformer.typed_fields import setting

PresetName = Literal[tuple(sorted(PRESETS))]

_TRANSFORMER_DEFAULTS = {
    name: parameter.default
    for name, parameter in inspect.signature(Transformer.__init__).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}


def _architecture_field(name, help, unset=None, **bounds):
    """An architecture field: unset (None) takes the preset's value, or else
    the `Transformer` default, which the help text shows (or `unset`)."""
    default = unset or repr(_TRANSFORMER_DEFAULTS[name])
    return setting(None, f"{help}; unset: the preset's, else {default}", **bounds)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The architecture, as `Transformer` keyword arguments.

    A field left unset (`None`) takes the value of `preset`, or else the
    `Transformer` default, which is the paper's base model (Table 3).
    Vocabulary sizes come from the trained tokenizer, not from here.
    """

    preset: PresetName | None = setting(
        None, "architecture preset to start from; fields set here override it"
    )
    num_layers: int | None = _architecture_field(
        "num_layers", "blocks in each of the encoder and decoder stacks (N)", minimum=1
    )
    num_heads: int | None = _architecture_field(
        "num_heads", "attention heads (h)", minimum=1
    )
    key_dim: int | None = _architecture_field(
        "key_dim",
        "query/key size per head (d_k; Table 3 row B varies it); values keep "
        "hidden_dim / num_heads",
        unset="hidden_dim / num_heads",
        minimum=1,
    )
    hidden_dim: int | None = _architecture_field(
        "hidden_dim", "model width (d_model)", minimum=1
    )
    intermediate_dim: int | None = _architecture_field(
        "intermediate_dim", "feed-forward inner width (d_ff)", minimum=1
    )
    dropout: float | None = _architecture_field(
        "dropout", "residual and embedding dropout (P_drop)", minimum=0, below=1
    )
    attention_dropout: float | None = _architecture_field(
        "attention_dropout", "dropout on the attention weights", minimum=0, below=1
    )
    activation_dropout: float | None = _architecture_field(
        "activation_dropout", "dropout inside the feed-forward net", minimum=0, below=1
    )
    activation: str | None = _architecture_field(
        "activation", "feed-forward activation (a Keras activation name)"
    )
    tie_embeddings: bool | None = _architecture_field(
        "tie_embeddings", "tie the target embedding with the pre-softmax projection"
    )
    position_encoding: Literal["sinusoidal", "learned"] | None = _architecture_field(
        "position_encoding", "position encoding: the paper's sinusoids or learned"
    )
    max_sequence_length: int | None = _architecture_field(
        "max_sequence_length",
        "longest sequence a learned position table covers",
        minimum=1,
    )
    layer_norm_epsilon: float | None = _architecture_field(
        "layer_norm_epsilon", "epsilon of every layer normalization", above=0
    )
    normalize_first: bool | None = _architecture_field(
        "normalize_first", "pre-LN blocks instead of the paper's post-LN"
    )

    def model_kwargs(self, vocabulary_size=None, target_vocabulary_size=None):
        """The keyword arguments for `Transformer(**kwargs)`, every one resolved:
        `Transformer` defaults, then the preset's values, then the fields set
        here; plus the vocabulary sizes when given."""
        kwargs = {name: _TRANSFORMER_DEFAULTS[name] for name in ARCHITECTURE}
        if self.preset is not None:
            if self.preset not in PRESETS:
                raise ValueError(
                    f"Unknown preset {self.preset!r} in model.preset; "
                    f"available: {', '.join(sorted(PRESETS))}."
                )
            kwargs.update(
                (name, value)
                for name, value in PRESETS[self.preset].items()
                if name not in ("vocabulary_size", "target_vocabulary_size")
            )
        for name in ARCHITECTURE:
            if getattr(self, name) is not None:
                kwargs[name] = getattr(self, name)
        if vocabulary_size is not None:
            kwargs["vocabulary_size"] = vocabulary_size
        if target_vocabulary_size is not None:
            kwargs["target_vocabulary_size"] = target_vocabulary_size
        return kwargs


# The fields that are `Transformer` keyword arguments (all but `preset`).
ARCHITECTURE = tuple(
    field.name
    for field in dataclasses.fields(ModelConfig)
    if field.name in _TRANSFORMER_DEFAULTS
)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The corpus, the subword vocabulary and the batches."""

    corpus: str = setting(
        "builtin",
        "'builtin' (generated EN-DE corpus) or a directory of train/valid/test "
        "splits (see data.readers.find_splits)",
    )
    source_language: str = setting("en", "source language: its files end in .<this>")
    target_language: str = setting("de", "target language: its files end in .<this>")
    vocabulary_size: int = setting(
        8000, "subword pieces per vocabulary, the 4 special tokens included", minimum=5
    )
    joint_vocabulary: bool = setting(
        True, "one vocabulary and embedding for both languages (§3.4, §5.1)"
    )
    tokenizer_type: Literal["unigram", "bpe"] = setting(
        "unigram", "SentencePiece model type (the paper used BPE)"
    )
    lowercase: bool = setting(False, "lowercase all text before tokenizing")
    max_length: int = setting(
        128,
        "longest sequence in tokens (a target with its start/end token)",
        minimum=2,
    )
    long_pairs: Literal["drop", "truncate"] = setting(
        "drop", "what to do with pairs longer than max_length"
    )
    token_budget: int = setting(
        4096,
        "padded tokens per batch (batch size x bucket length), like fairseq's "
        "--max-tokens",
        minimum=1,
    )
    shuffle_buffer: int = setting(100_000, "pairs held for shuffling", minimum=1)
    builtin_train_size: int = setting(
        20000, "training pairs of the built-in corpus", minimum=1
    )
    builtin_valid_size: int = setting(
        500, "validation pairs of the built-in corpus", minimum=0
    )
    builtin_test_size: int = setting(
        500, "test pairs of the built-in corpus", minimum=0
    )
    seed: int = setting(
        0, "seed of the built-in corpus and of the data shuffling", minimum=0
    )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimization, precision, evaluation and checkpoints.

    The optimizer is the paper's Adam (β1=0.9, β2=0.98, ε=1e-9, §5.3), not
    configurable; its learning rate follows the paper's schedule.
    """

    epochs: int = setting(
        10, "passes over the training data (max_steps may stop sooner)", minimum=1
    )
    max_steps: int | None = setting(
        None,
        "stop after this many optimizer updates (the paper's steps); none: no cap",
        minimum=1,
    )
    warmup_steps: int = setting(
        4000,
        "steps of linear learning-rate warmup, then decay as step^-0.5 (§5.3)",
        minimum=1,
    )
    learning_rate_scale: float = setting(
        1.0,
        "factor on the paper's rate d_model^-0.5*min(step^-0.5, step*warmup^-1.5); "
        "Adam β1=0.9, β2=0.98, ε=1e-9 are fixed",
        above=0,
    )
    label_smoothing: float = setting(
        0.1, "label smoothing ε_ls (§5.4: 0.1)", minimum=0, below=1
    )
    gradient_accumulation_steps: int | None = setting(
        None,
        "batches summed per optimizer update; none: update every batch",
        minimum=2,
    )
    clipnorm: float | None = setting(
        None,
        "clip each gradient to this norm; none: no clipping (as the paper)",
        above=0,
    )
    mixed_precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = setting(
        "float32", "Keras dtype policy: compute in 16 bits, keep float32 weights"
    )
    jit_compile: bool | Literal["auto"] = setting(
        "auto",
        "compile the train step (Keras' compile(jit_compile=...)): XLA on "
        "TensorFlow and JAX; on PyTorch, true compiles the forward pass and the "
        "update with torch.compile, once per batch shape ('auto': eager there)",
    )
    eval_every_epochs: int = setting(
        1, "BLEU and chrF on the validation set every N epochs; 0: never", minimum=0
    )
    eval_max_sentences: int | None = setting(
        500, "validation sentences translated for BLEU/chrF; none: all", minimum=1
    )
    attention_monitor_every_epochs: int = setting(
        0,
        "per-head attention entropy/share on 32 validation pairs, logged, with a "
        "warning when heads collapse, every N epochs; 0: off",
        minimum=0,
    )
    backup_every_steps: int | Literal["epoch"] = setting(
        "epoch",
        "back up (to resume, and for averaging) every N batches, or 'epoch'",
        minimum=1,
    )
    keep_checkpoints: int = setting(
        1, "latest checkpoints kept (at least average_last)", minimum=1
    )
    average_last: int = setting(
        0,
        "average the last N checkpoints' weights at the end (§6.1); 0: off",
        minimum=0,
    )
    seed: int = setting(0, "seed of the weight initialization and dropout", minimum=0)
    devices: int | Literal["auto"] = setting(
        "auto",
        "accelerators to train on: 'auto' (all visible; under torchrun, its "
        "processes) or a count; the global batch stays data.token_budget",
        minimum=1,
    )
    model_parallel: int = setting(
        1,
        "devices each large weight is sharded over (JAX ModelParallel); the "
        "rest of train.devices split the batch; 1: data parallel only",
        minimum=1,
    )


@dataclasses.dataclass(frozen=True)
class DecodeConfig(TranslationSettings):
    """Beam search for evaluation and translation (§6.1): the fields of
    `keras_transformer.decoding.TranslationSettings`, which the `Translator`
    and `Generator` take as they are."""


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """A whole run: its name and the four sections."""

    name: str = setting("experiment", "run name (names its work directory)")
    model: ModelConfig = setting(None, "the architecture", ModelConfig)
    data: DataConfig = setting(None, "corpus, vocabulary and batching", DataConfig)
    train: TrainConfig = setting(None, "optimization and checkpoints", TrainConfig)
    decode: DecodeConfig = setting(None, "beam search", DecodeConfig)
