"""The callbacks of the processes other than the chief."""

from keras_transformer.training.backup import TrainingBackup
from keras_transformer.training.callbacks import NaNGuard, StepLimit

# Callbacks that decide when training stops: every process runs them, so
# that all stop at the same step (a process that went on would wait forever
# for the others in its next collective).
_STEERING = (NaNGuard, StepLimit)


class RestoringBackup(TrainingBackup):
    """A `TrainingBackup` that restores and resumes like the chief's but
    never writes: one process writes the backups."""

    def _save(self, finished=False):
        self._last_saved = (*self._position(), finished)
        self._batches_since_save = 0


def follower_callbacks(callbacks):
    """The part of the chief's `callbacks` that a follower process runs.

    Keeps the callbacks that stop training (`NaNGuard`, `StepLimit`, whose
    inputs, the global loss and the step count, are the same on every
    process) and turns a `TrainingBackup` into a `RestoringBackup`, so every
    process resumes at the same batch; drops the ones that only write or
    report (checkpoints, logs, BLEU).
    """
    kept = []
    for callback in callbacks:
        if isinstance(callback, TrainingBackup):
            kept.append(
                RestoringBackup(
                    callback.backup_dir,
                    save_freq=callback.save_freq,
                    keep=callback.keep,
                    verbose=0,
                )
            )
        elif isinstance(callback, _STEERING):
            kept.append(callback)
    return kept
