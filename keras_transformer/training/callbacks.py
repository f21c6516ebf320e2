"""Callbacks of a training run: translation quality, checkpoints, NaN guard,
learning rate in the logs, and a step limit."""

import csv
import io
import json
import math
import os

import keras

from keras_transformer.atomic import atomic_file, atomic_write_bytes
from keras_transformer.evaluation import evaluate_translator


def save_weights_atomically(model, path):
    """`model.save_weights(path)`, atomically and durably (`atomic_file`)."""
    with atomic_file(path) as temporary:
        model.save_weights(temporary)


class TranslationQuality(keras.callbacks.Callback):
    """Translates validation pairs every `every_epochs` epochs and logs
    `val_bleu` and `val_chrf` (sacreBLEU on detokenized text) into the epoch
    logs, so History, TensorBoard and checkpointing see them.

    Args:
        make_translator: a function of the model returning a `Translator`.
        pairs: `(source, reference)` validation pairs.
        every_epochs: how often; epochs in between log nothing.
    """

    def __init__(self, make_translator, pairs, every_epochs=1):
        super().__init__()
        self.make_translator = make_translator
        self.pairs = list(pairs)
        self.every_epochs = every_epochs
        self._translator = None  # built once: its compiled search is reused

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not self.pairs or (epoch + 1) % self.every_epochs:
            return
        if self._translator is None or self._translator.model is not self.model:
            self._translator = self.make_translator(self.model)
        scores, _ = evaluate_translator(self._translator, self.pairs)
        logs["val_bleu"] = scores.bleu
        logs["val_chrf"] = scores.chrf
        # A leading newline, as Keras' ModelCheckpoint does: the progress
        # bar's line is still open when epoch-end callbacks run.
        print(
            f"\nEpoch {epoch + 1}: validation BLEU {scores.bleu:.2f}, "
            f"chrF {scores.chrf:.2f} ({scores.sentences} sentences)"
        )


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the optimizer's current learning rate into the batch and epoch
    logs, so the progress bar and History show it."""

    def _add(self, logs):
        if logs is not None:
            logs["learning_rate"] = float(
                keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )

    def on_train_batch_end(self, batch, logs=None):
        self._add(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._add(logs)


class NaNGuard(keras.callbacks.Callback):
    """Stops training when the loss becomes NaN or infinite, and says what
    to try. `stopped_at` is `(epoch, batch)` then."""

    def __init__(self, backup_dir=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.stopped_at = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        self.stopped_at = (self._epoch, batch)
        self.model.stop_training = True
        print(f"\n{self.message()}")

    def message(self):
        epoch, batch = self.stopped_at
        backup = (
            f" The last backup in {self.backup_dir} is intact: fix the setting "
            "and run the same command again to resume from it."
            if self.backup_dir
            else ""
        )
        return (
            f"Training stopped: the loss became NaN at epoch {epoch + 1}, batch "
            f"{batch + 1}. Try a smaller train.learning_rate_scale, more "
            "train.warmup_steps, train.clipnorm=1.0, or "
            "train.mixed_precision=float32 (float16 overflows)." + backup
        )


class CheckpointKeeper(keras.callbacks.Callback):
    """Keeps the last `keep` checkpoints (for checkpoint averaging, §6.1) and
    the best epoch's weights by `monitor`, each written atomically.

    Checkpoints are taken at epoch ends (`epoch-0001.weights.h5`, ...) or,
    with an integer `save_freq`, every `save_freq` optimizer updates
    (`step-0000600.weights.h5`, ...: the paper averaged checkpoints taken at
    fixed intervals). The best weights go to `best.weights.h5`, with
    `best.json` (the monitored value and epoch, so that a resumed run keeps
    comparing against it), in `directory`.
    """

    def __init__(
        self, directory, keep=1, monitor="val_bleu", mode="max", save_freq="epoch"
    ):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min'; received {mode!r}.")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq >= 1):
            raise ValueError(
                "save_freq must be 'epoch' or a positive number of updates; "
                f"received {save_freq!r}."
            )
        self.directory = directory
        self.keep = keep
        self.monitor = monitor
        self.mode = mode
        self.save_freq = save_freq
        self.best = None
        self._last_saved_step = None
        best_file = os.path.join(directory, "best.json")
        if os.path.isfile(best_file):
            with open(best_file) as file:
                record = json.load(file)
            if record.get("monitor") == monitor:
                self.best = record["value"]

    @property
    def _prefix(self):
        return "epoch-" if self.save_freq == "epoch" else "step-"

    def checkpoint_paths(self):
        """Saved interval checkpoints (epoch or step ones), oldest first."""
        if not os.path.isdir(self.directory):
            return []
        names = sorted(
            n
            for n in os.listdir(self.directory)
            if n.startswith(self._prefix) and n.endswith(".weights.h5")
        )
        return [os.path.join(self.directory, n) for n in names]

    def _save_checkpoint(self, name):
        save_weights_atomically(self.model, os.path.join(self.directory, name))
        for old in self.checkpoint_paths()[: -self.keep]:
            os.unlink(old)

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step % self.save_freq == 0 and step != self._last_saved_step:
            # With gradient accumulation, `iterations` stays put over the
            # accumulating batches: save once per update.
            self._last_saved_step = step
            self._save_checkpoint(f"step-{step:07d}.weights.h5")

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_checkpoint(f"epoch-{epoch + 1:04d}.weights.h5")
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        improved = self.best is None or (
            value > self.best if self.mode == "max" else value < self.best
        )
        if improved:
            self.best = float(value)
            save_weights_atomically(
                self.model, os.path.join(self.directory, "best.weights.h5")
            )
            record = {"monitor": self.monitor, "value": self.best, "epoch": epoch + 1}
            atomic_write_bytes(
                os.path.join(self.directory, "best.json"), json.dumps(record).encode()
            )


class HistoryLogger(keras.callbacks.Callback):
    """Writes one CSV row per epoch to `filename`, with columns that do not
    depend on the first epoch's logs, each time atomically.

    Keras' `CSVLogger` takes its columns from the first epoch it sees, so a
    value logged only every few epochs (validation BLEU) is dropped for the
    whole run, and a resumed run whose first epoch logs other keys writes
    rows under the wrong header. Here the columns are the existing file's
    header when it has one (a resumed run), or else the first epoch's keys
    plus `expected_keys`; an epoch that lacks a value writes `NA`.

    The file is rewritten whole, atomically, at every epoch: a kill never
    leaves half a row. `discard_from=e` first drops the rows of epoch `e` and
    later, which a run killed after writing them leaves when it resumes at
    epoch `e` (`train()` passes its backup's epoch), so each epoch is there
    once.
    """

    def __init__(self, filename, expected_keys=(), discard_from=None):
        super().__init__()
        self.filename = os.fspath(filename)
        self.expected_keys = tuple(expected_keys)
        self.discard_from = discard_from

    def on_train_begin(self, logs=None):
        if self.discard_from is not None and os.path.isfile(self.filename):
            header, rows = self._read()
            kept = [row for row in rows if int(row[0]) < self.discard_from]
            if header and len(kept) < len(rows):
                self._write(header, kept)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        header, rows = self._read()
        if not header:
            header = ["epoch", *sorted(set(logs) | set(self.expected_keys))]
        rows.append([str(epoch), *(_csv_value(logs.get(key)) for key in header[1:])])
        self._write(header, rows)

    def _read(self):
        if not os.path.isfile(self.filename):
            return None, []
        with open(self.filename, newline="") as file:
            reader = csv.reader(file)
            return next(reader, None), [row for row in reader if row]

    def _write(self, header, rows):
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        atomic_write_bytes(self.filename, text.getvalue().encode("utf-8"))


def _csv_value(value):
    if value is None:
        return "NA"
    try:
        return str(float(keras.ops.convert_to_numpy(value)))
    except (TypeError, ValueError):
        return str(value)


class StepLimit(keras.callbacks.Callback):
    """Stops training once the optimizer has made `max_steps` updates."""

    def __init__(self, max_steps):
        super().__init__()
        self.max_steps = max_steps

    def on_train_batch_end(self, batch, logs=None):
        steps = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if steps >= self.max_steps:
            self.model.stop_training = True
