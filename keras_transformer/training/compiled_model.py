"""The run's Transformer, compiled with the paper's optimizer, schedule and
loss (§5.3, §5.4). Keras only: it builds where TensorFlow is not installed."""

import math

from keras_transformer.models.transformer import Transformer
from keras_transformer.training.losses import LabelSmoothedCrossEntropy
from keras_transformer.training.metrics import MaskedAccuracy
from keras_transformer.training.optimizer import make_optimizer
from keras_transformer.training.schedule import TransformerSchedule


def compiled_transformer(config, vocabulary_size, target_vocabulary_size=None):
    """Builds and compiles the `Transformer` an `ExperimentConfig` describes.

    Args:
        config: an `ExperimentConfig` (its `model` and `train` sections).
        vocabulary_size: pieces of the source (or joint) vocabulary.
        target_vocabulary_size: pieces of a separate target vocabulary;
            `None` when the vocabulary is joint.
    """
    kwargs = config.model.model_kwargs(
        vocabulary_size=vocabulary_size,
        target_vocabulary_size=target_vocabulary_size,
    )
    model = Transformer(**kwargs)
    train = config.train
    # Keras evaluates the schedule once per batch; with k accumulated batches
    # per update, stretch warmup by k and scale by sqrt(k) so the rate per
    # update is the paper's.
    accumulation = train.gradient_accumulation_steps or 1
    schedule = TransformerSchedule(
        model.hidden_dim,
        warmup_steps=train.warmup_steps * accumulation,
        scale=train.learning_rate_scale * math.sqrt(accumulation),
    )
    model.compile(
        optimizer=make_optimizer(
            schedule,
            gradient_accumulation_steps=train.gradient_accumulation_steps,
            clipnorm=train.clipnorm,
        ),
        loss=LabelSmoothedCrossEntropy(label_smoothing=train.label_smoothing),
        metrics=[MaskedAccuracy()],
        jit_compile=train.jit_compile,
    )
    # Keras builds an optimizer on first use, which on TensorFlow is inside
    # the traced train step: a function that creates variables is traced a
    # second time, so each run would trace (and on a CPU take seconds to
    # trace) its train step twice. Built here, it is traced once.
    model.optimizer.build(model.trainable_variables)
    return model
