"""Per-head attention health during training, and warnings when heads collapse.

Three failure patterns of multi-head attention, measured on a fixed batch
(see `attention_statistics` for the definitions of normalized entropy and
output share):

- collapsed: the head's normalized entropy is below `collapse_entropy` on
  every example of the batch: each query puts (nearly) all its weight on a
  single key, whatever the input. A head that is sharp by design (a one-to-one
  alignment) is rarely that sharp on real text, and the warning says whether
  every query picks the same key (`focus` near 0, a head stuck on one token).
- uniform: the normalized entropy is above `uniform_entropy` on every
  example: the head averages its inputs instead of selecting among them.
  Expected at initialization; a warning after training has run means the
  head never learned.
- dominant: the head's mean share of the layer's attention output norm is
  above `max(dominant_share, 2 / num_heads)` (more than twice its fair share
  of `1 / num_heads`): a few heads do all the work. Never flagged with two
  heads or fewer.
"""

import dataclasses
import os
import time
import warnings

import keras
import numpy as np

from keras_transformer.diagnostics.attention import (
    AttentionExtractor,
    attention_statistics,
    layer_names,
)
from keras_transformer.special_tokens import PAD_ID, START_ID

CONDITIONS = ("collapsed", "uniform", "dominant")
_ADVICE = {
    "collapsed": "try a lower learning rate or a longer warmup, attention "
    "dropout, and check that padding is masked",
    "uniform": "if this persists after the first epochs, try a higher learning "
    "rate, more training steps, or fewer heads",
    "dominant": "try attention dropout or a lower learning rate; the other heads "
    "of the layer contribute little",
}


class AttentionHealthWarning(UserWarning):
    """An attention head collapsed, stayed uniform, or dominates its layer."""


@dataclasses.dataclass(frozen=True)
class HeadIssue:
    """One flagged head: `layer` like `"decoder_cross_1"`, the head index, the
    condition (one of `CONDITIONS`), and the statistic that triggered it."""

    layer: str
    head: int
    condition: str
    value: float
    message: str


def diagnose_heads(
    maps, collapse_entropy=0.05, uniform_entropy=0.98, dominant_share=0.5
):
    """Statistics of every layer and the heads that look unhealthy.

    Args:
        maps: `AttentionMaps` of a batch (`extract_attention`).
        collapse_entropy, uniform_entropy, dominant_share: thresholds, see
            the module docstring.

    Returns:
        `(statistics, issues)`: a dict from layer name (`"encoder_self_0"`) to
        `HeadStatistics`, and a list of `HeadIssue`.
    """
    statistics, issues = {}, []
    for kind, index, name in layer_names(maps):
        stats = attention_statistics(maps, kind, index)
        statistics[name] = stats
        for head in range(stats.entropy.shape[1]):
            found = _head_conditions(
                stats, head, collapse_entropy, uniform_entropy, dominant_share
            )
            for condition, value, detail in found:
                message = (
                    f"Attention head {head} of {name} is {condition}: {detail}; "
                    f"{_ADVICE[condition]}."
                )
                issues.append(HeadIssue(name, head, condition, value, message))
    return statistics, issues


def _head_conditions(stats, head, collapse_entropy, uniform_entropy, dominant_share):
    """`(condition, value, detail)` for each condition one head meets."""
    num_examples, num_heads = stats.entropy.shape
    entropy = stats.entropy[:, head]
    share = float(stats.share[:, head].mean())
    found = []
    if entropy.max() < collapse_entropy:
        focus = float(stats.focus[:, head].mean())
        where = (
            "every query attends the same key"
            if focus < 0.1
            else ("each query attends a single key")
        )
        detail = (
            f"normalized entropy below {collapse_entropy} on all {num_examples} "
            f"examples (max {entropy.max():.3f}): {where} (key focus {focus:.2f})"
        )
        found.append(("collapsed", float(entropy.max()), detail))
    if entropy.min() > uniform_entropy:
        detail = (
            f"normalized entropy above {uniform_entropy} on all {num_examples} "
            f"examples (min {entropy.min():.3f}): near-uniform attention"
        )
        found.append(("uniform", float(entropy.min()), detail))
    if share > max(dominant_share, 2.0 / num_heads):
        detail = (
            f"{share:.2f} of the layer's attention output norm "
            f"(fair share {1 / num_heads:.2f})"
        )
        found.append(("dominant", share, detail))
    return found


def monitor_inputs(
    pairs, source_tokenizer, target_tokenizer=None, size=32, max_length=64
):
    """A fixed batch for `AttentionMonitor` from `(source, target)` strings.

    Args:
        pairs: sentence pairs, e.g. the validation set; the first `size` are
            used.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s (the target
            one defaults to the source one: a joint vocabulary).
        size: pairs in the batch.
        max_length: tokens kept per side (the decoder input is the start
            token and the target, so `max_length` in all).

    Returns:
        `{"encoder_token_ids", "decoder_token_ids"}`, int32, padded with 0.
    """
    pairs = list(pairs)[:size]
    if not pairs:
        raise ValueError("monitor_inputs needs at least one sentence pair.")
    target_tokenizer = target_tokenizer or source_tokenizer
    sources = source_tokenizer.tokenize([s for s, _ in pairs])
    targets = target_tokenizer.tokenize([t for _, t in pairs])
    sources = [row[:max_length] for row in sources]
    targets = [np.concatenate([[START_ID], row[: max_length - 1]]) for row in targets]
    batch = {}
    for key, rows in (("encoder_token_ids", sources), ("decoder_token_ids", targets)):
        array = np.full((len(rows), max(1, *map(len, rows))), PAD_ID, "int32")
        for index, row in enumerate(rows):
            array[index, : len(row)] = row
        batch[key] = array
    return batch


def summarize(statistics, issues):
    """The scalars logged per layer: mean head entropy, the lowest head's
    entropy, the largest head share; and the count of flagged heads."""
    logs = {}
    for name, stats in statistics.items():
        entropy = stats.entropy.mean(0)  # per head, over the batch
        logs[f"attention/{name}/head_entropy_mean"] = float(entropy.mean())
        logs[f"attention/{name}/head_entropy_min"] = float(entropy.min())
        logs[f"attention/{name}/head_share_max"] = float(stats.share.mean(0).max())
    logs["attention/flagged_heads"] = float(len({(i.layer, i.head) for i in issues}))
    return logs


class AttentionMonitor(keras.callbacks.Callback):
    """Measures per-head attention on a fixed batch while a model trains.

    Every `every_epochs` epochs (and/or every `every_steps` batches) it runs
    `extract_attention` on `inputs`, computes each head's normalized entropy
    and output share, and:

    - adds to the epoch logs (so to `History`, `CSVLogger` and Keras'
      `TensorBoard` callback, when those come after it in the callback list),
      per layer: `attention/<layer>/head_entropy_mean`, `.../head_entropy_min`,
      `.../head_share_max`, and `attention/flagged_heads`. Layers are named
      `encoder_self_<i>`, `decoder_self_<i>` and `decoder_cross_<i>`;
    - writes those and each head's entropy and share to TensorBoard event
      files in `log_dir`, if given, at the training step;
    - warns (`AttentionHealthWarning`, once per head and condition) when a
      head is collapsed, uniform, or dominant (see
      `keras_transformer.diagnostics.monitor`);
    - keeps every measurement in `records`: dicts with `epoch`, `step`,
      `logs`, `statistics` and `issues`.

    Args:
        inputs: a fixed batch in the model's input format
            (`encoder_token_ids`, `decoder_token_ids`, optional masks), e.g.
            32 validation pairs.
        every_epochs: measure after the first and every N-th epoch; 0:
            never. Epochs without a measurement log NaN.
        every_steps: measure after every N-th training batch; 0: never. The
            epoch logs get the latest measurement.
        collapse_entropy, uniform_entropy, dominant_share: thresholds.
        log_dir: a directory for TensorBoard event files, or `None`.
        warn: emit warnings (the records and logs are kept either way).

    Example:

    >>> monitor = AttentionMonitor(validation_batch, every_epochs=1)
    >>> model.fit(dataset, epochs=5, callbacks=[monitor])
    >>> monitor.records[-1]["logs"]["attention/decoder_cross_0/head_entropy_mean"]
    """

    def __init__(
        self,
        inputs,
        every_epochs=1,
        every_steps=0,
        collapse_entropy=0.05,
        uniform_entropy=0.98,
        dominant_share=0.5,
        log_dir=None,
        warn=True,
    ):
        super().__init__()
        if every_epochs < 0 or every_steps < 0 or not (every_epochs or every_steps):
            raise ValueError(
                "AttentionMonitor needs every_epochs >= 1 or every_steps >= 1 "
                f"(the other may be 0); received every_epochs={every_epochs}, "
                f"every_steps={every_steps}."
            )
        if not 0 <= collapse_entropy < uniform_entropy <= 1:
            raise ValueError(
                "Thresholds must satisfy 0 <= collapse_entropy < uniform_entropy "
                f"<= 1; received {collapse_entropy} and {uniform_entropy}."
            )
        self.inputs = {k: np.asarray(v) for k, v in inputs.items()}
        self.every_epochs = every_epochs
        self.every_steps = every_steps
        self.collapse_entropy = collapse_entropy
        self.uniform_entropy = uniform_entropy
        self.dominant_share = dominant_share
        self.log_dir = log_dir
        self.warn = warn
        self.records = []
        self._warned = set()
        self._step = 0
        self._epoch = 0
        self._writer = None
        self._pending = None  # the latest measurement, for the epoch logs
        self._extractor = None  # compiles its pass once, for self.model

    def measure(self):
        """Measures now; returns the record (also appended to `records`)."""
        if self._extractor is None or self._extractor.model is not self.model:
            self._extractor = AttentionExtractor(self.model)
        maps = self._extractor(self.inputs)
        statistics, issues = diagnose_heads(
            maps, self.collapse_entropy, self.uniform_entropy, self.dominant_share
        )
        record = {
            "epoch": self._epoch,
            "step": self._step,
            "logs": summarize(statistics, issues),
            "statistics": statistics,
            "issues": issues,
        }
        self.records.append(record)
        self._pending = record
        self._report(issues)
        self._write_tensorboard(record)
        return record

    def _report(self, issues):
        for issue in issues:
            key = (issue.layer, issue.head, issue.condition)
            if self.warn and key not in self._warned:
                self._warned.add(key)
                warnings.warn(
                    f"{issue.message} (step {self._step})",
                    AttentionHealthWarning,
                    stacklevel=2,
                )

    def _write_tensorboard(self, record):
        if self.log_dir is None:
            return
        scalars = dict(record["logs"])
        for name, stats in record["statistics"].items():
            for head in range(stats.entropy.shape[1]):
                prefix = f"attention_heads/{name}/head_{head}"
                scalars[f"{prefix}/entropy"] = float(stats.entropy[:, head].mean())
                scalars[f"{prefix}/share"] = float(stats.share[:, head].mean())
        if self._writer is None:
            self._writer = _EventWriter(self.log_dir)
        self._writer.write(scalars, record["step"])

    # === Callback hooks ===

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        self._step = (
            0 if iterations is None else int(keras.ops.convert_to_numpy(iterations))
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_steps and self._step % self.every_steps == 0:
            self.measure()

    def on_epoch_end(self, epoch, logs=None):
        due = self.every_epochs and (epoch == 0 or (epoch + 1) % self.every_epochs == 0)
        fresh = self._pending is not None and self._pending["step"] == self._step
        if due and not fresh:
            self.measure()
        if logs is None or not self.records:
            return
        if self._pending is None:
            # Not measured this epoch: NaN keeps the CSV and History columns.
            logs.update(dict.fromkeys(self.records[-1]["logs"], float("nan")))
        else:
            logs.update(self._pending["logs"])
            self._pending = None

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _EventWriter:
    """Scalars to TensorBoard event files with the `tensorboard` package alone
    (no TensorFlow, so the callback is the same on every backend)."""

    def __init__(self, log_dir):
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        os.makedirs(log_dir, exist_ok=True)
        self._writer = EventFileWriter(log_dir)

    def write(self, scalars, step):
        from tensorboard.compat.proto import event_pb2, summary_pb2

        values = [
            summary_pb2.Summary.Value(tag=tag, simple_value=value)
            for tag, value in scalars.items()
        ]
        event = event_pb2.Event(
            wall_time=time.time(),
            step=int(step),
            summary=summary_pb2.Summary(value=values),
        )
        self._writer.add_event(event)
        self._writer.flush()

    def close(self):
        self._writer.close()
