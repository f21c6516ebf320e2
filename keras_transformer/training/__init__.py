"""Training: schedule, optimizer, loss, metrics, callbacks, checkpoint
averaging, resumable backups (Vaswani et al. 2017, §5 and §6.1), and
`trainer.train(config, workdir)`, the whole run."""

from keras_transformer.training.backup import (
    TrainingBackup,
    read_backup_metadata,
    restore_latest,
)
from keras_transformer.training.callbacks import (
    CheckpointKeeper,
    HistoryLogger,
    LearningRateLogger,
    NaNGuard,
    StepLimit,
    TranslationQuality,
)
from keras_transformer.training.checkpoint_averaging import average_checkpoints
from keras_transformer.training.compiled_model import compiled_transformer
from keras_transformer.training.losses import LabelSmoothedCrossEntropy
from keras_transformer.training.metrics import MaskedAccuracy
from keras_transformer.training.optimizer import make_optimizer
from keras_transformer.training.schedule import TransformerSchedule

__all__ = [
    "CheckpointKeeper",
    "HistoryLogger",
    "LabelSmoothedCrossEntropy",
    "LearningRateLogger",
    "MaskedAccuracy",
    "NaNGuard",
    "StepLimit",
    "TrainingBackup",
    "TransformerSchedule",
    "TranslationQuality",
    "average_checkpoints",
    "compiled_transformer",
    "make_optimizer",
    "read_backup_metadata",
    "restore_latest",
]
