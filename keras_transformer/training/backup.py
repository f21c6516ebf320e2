"""Crash-safe, backend-neutral backups of a training run."""

import datetime
import math
import os

import keras

from keras_transformer.fit_hooks import (
    set_initial_epoch,
    skip_train_steps,
    stop_skipping,
)
from keras_transformer.training.backup_files import (
    FORMAT_VERSION,
    METADATA_FILE,
    POINTER_FILE,
    STATE_FILE,
    read_backup_metadata,
    restore_latest,
    state_arrays,
    write_backup,
)

__all__ = [
    "METADATA_FILE",
    "POINTER_FILE",
    "STATE_FILE",
    "TrainingBackup",
    "read_backup_metadata",
    "restore_latest",
]


class TrainingBackup(keras.callbacks.Callback):
    """Backs up a `fit` run atomically so that a restarted run resumes it.

    A replacement for `keras.callbacks.BackupAndRestore` that survives being
    killed at any moment and whose backups restore on any backend. Each
    backup is a directory `backup-<n>/` holding `state.npz` (every model
    variable, dropout seed states included, and every optimizer variable,
    `iterations` included, keyed by variable path) and `metadata.json`
    (progress, the backend that wrote it, the format version). It is written
    under a temporary name, flushed to disk, renamed, and only then named by
    the `latest` pointer file (replaced atomically); older backups are
    deleted after the pointer has moved. A partly written backup never bears
    the name `backup-<n>`, so it is never loaded; should the pointer's
    backup fail to load (a damaged disk), the newest other one is.

    On `on_train_begin` the latest complete backup, if any, is restored and
    `fit` resumes after the last batch it covers, mid-epoch included (the
    batches already trained on are passed over without a train step, and the
    metric totals of the epoch's earlier batches, stored with the backup,
    are added back, so the epoch's logs are the uninterrupted epoch's). With
    a deterministic data order (`shuffle=False`, no random augmentation) the
    resumed run ends with the same weights as an uninterrupted one; the
    learning-rate schedule follows the restored `optimizer.iterations`.

    An epoch counts as done only when its end-of-epoch backup is written, so
    put this callback last: then the epoch's end (validation, and the
    callbacks before this one: BLEU, checkpoints, history) is done before the
    epoch is, and a run killed during it resumes before the epoch's end and
    does it again. For the same reason `save_freq` never backs up at an
    epoch's last batch (the epoch-end backup follows). A non-finite loss
    stops all backups, so the last one stays a good state to resume from.

    At the end of training a last backup is written with `"finished": true`
    and kept, so later steps (export) can tell the run completed. Running the
    same `fit` again is then a no-op; a `fit` with more `epochs` than the
    finished run continues it.

    Use one backup directory per run, and one writing process.

    Args:
        backup_dir: directory for the backups; created if missing.
        save_freq: `"epoch"` to back up at the end of every epoch, or an int
            to back up every `save_freq` batches and at the end of every
            epoch.
        keep: how many complete backups to keep (at least 1).
        verbose: print a line when a backup is restored.

    Example:

    >>> backup = TrainingBackup("runs/base/backup", save_freq=1000)
    >>> model.fit(dataset, epochs=20, callbacks=[backup])  # kill, rerun: resumes
    >>> read_backup_metadata("runs/base/backup")["finished"]
    True
    """

    def __init__(self, backup_dir, save_freq="epoch", keep=1, verbose=1):
        super().__init__()
        if not backup_dir:
            raise ValueError("TrainingBackup needs a backup_dir.")
        if save_freq != "epoch" and not _is_positive_int(save_freq):
            raise ValueError(
                "save_freq must be 'epoch' or a positive number of batches. "
                f"Received: save_freq={save_freq!r}."
            )
        if not _is_positive_int(keep):
            raise ValueError(f"keep must be a positive int. Received: {keep!r}.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.keep = keep
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        model = self.model
        stop_skipping(model)
        self._epoch, self._step = 0, 0
        self._resume_step = 0
        self._batches_since_save = 0
        self._last_saved = None
        self._resume_metrics = None  # metric totals of a resumed epoch's batches
        self._diverged = False
        metadata = restore_latest(model, self.backup_dir)
        if metadata is None:
            return
        epoch, step = metadata["epoch"], metadata["step"]
        finished = metadata["finished"]
        self._epoch = epoch
        self._last_saved = (epoch, step, finished)
        epochs = self.params.get("epochs") or 0
        done = finished and epochs <= (metadata.get("epochs") or 0)
        self._resume_step = 0 if done else step
        if not done and step:
            self._resume_metrics = metadata.get("metric_states") or None
        set_initial_epoch(model, max(epoch, epochs) if done else epoch)
        if self.verbose:
            print(_restored_message(metadata, done), flush=True)

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        # `fit` has read it; a later `fit` of this model must not inherit it.
        set_initial_epoch(model, None)
        self._epoch, self._step = epoch, 0
        if self._resume_step:
            self._step = self._resume_step
            skip_train_steps(model, self._resume_step // model.steps_per_execution)
            self._resume_step = 0

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        if done <= self._step:
            return  # Passed over: trained on before the restart.
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._diverged = True  # Never back up NaN weights over good ones.
        if self._resume_metrics is not None:
            self._add_metric_totals(self._resume_metrics)
            self._resume_metrics = None
        self._batches_since_save += done - self._step
        self._step = done
        last_batch = done >= (self.params.get("steps") or done + 1)
        if (
            self.save_freq != "epoch"
            and self._batches_since_save >= self.save_freq
            and not last_batch  # The epoch-end backup follows its end.
        ):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        self._epoch, self._step = epoch + 1, 0
        if self._last_saved is None or self._last_saved[:2] != (self._epoch, 0):
            self._save()

    def on_train_end(self, logs=None):
        model = self.model
        stop_skipping(model)
        set_initial_epoch(model, None)
        if self._last_saved != (*self._position(), True):
            self._save(finished=True)

    def _add_metric_totals(self, states):
        """Adds the stored metric states (totals and counts of the epoch's
        batches before the restart) to those of the batches since."""
        for variable in self.model.metrics_variables:
            value = states.get(variable.path)
            if value is not None and tuple(value.shape) == tuple(variable.shape):
                variable.assign(variable + keras.ops.cast(value, variable.dtype))

    def _position(self):
        """(epochs completed, batches completed in the next epoch)."""
        steps = self.params.get("steps")
        if steps and self._step >= steps:
            return self._epoch + 1, 0
        return self._epoch, self._step

    def _save(self, finished=False):
        if self._diverged:
            return
        model = self.model  # On JAX this syncs the training state first.
        epoch, step = self._position()
        optimizer = model.optimizer
        metadata = {
            "format_version": FORMAT_VERSION,
            "epoch": epoch,
            "step": step,
            "epochs": self.params.get("epochs"),
            "iterations": None
            if optimizer is None
            else int(keras.ops.convert_to_numpy(optimizer.iterations)),
            "finished": finished,
            "backend": keras.backend.backend(),
            "keras_version": keras.__version__,
            "written_at": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        arrays = state_arrays(model, metrics=step > 0)
        write_backup(self.backup_dir, arrays, metadata, self.keep)
        self._last_saved = (epoch, step, finished)
        self._batches_since_save = 0


def _is_positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _restored_message(metadata, done):
    epoch, step = metadata["epoch"], metadata["step"]
    written = f"(written by {metadata['backend']})"
    if done:
        return f"Restored backup of epoch {epoch} {written}; training had finished."
    if step:
        return (
            f"Restored backup of epoch {epoch + 1}, step {step} {written}; "
            f"resuming at epoch {epoch + 1}, step {step + 1}."
        )
    return f"Restored backup of epoch {epoch} {written}; resuming at epoch {epoch + 1}."
