"""`DeviceStrategy`: what a training run asks of its devices, on one device.

The backends' strategies (`tensorflow_strategy.py`, `jax_mesh.py`,
`torch_process_group.py`) override it; the helpers below are shared by them.
"""

import contextlib

import tensorflow as tf
from keras import ops

from keras_transformer.special_tokens import PAD_ID


class DeviceStrategy:
    """How `train()` uses its devices; this base class is one device.

    A strategy tells the trainer where to build the model (`scope`), how to
    feed it (`token_budget`, `distribute_dataset`), what to add to the
    compiled model (`prepare_model`, `callbacks`), and which process writes
    files (`is_chief`, `barrier`, `chief_first`). On one device every hook
    leaves things as they are.

    Attributes:
        replicas: data-parallel replicas; each step's global batch is split
            over them.
        num_processes: processes taking part (torchrun ranks, JAX hosts).
        process_index: this process's index; 0 is the chief, the only one
            that writes checkpoints, backups, logs and the translator.
    """

    replicas = 1
    num_processes = 1
    process_index = 0

    @property
    def is_chief(self):
        return self.process_index == 0

    def describe(self):
        """One line for the run's log."""
        return "one device"

    def scope(self):
        """The context to build, compile and fit the model in."""
        return contextlib.nullcontext()

    def token_budget(self, budget):
        """Padded tokens per batch this process's pipeline should yield for
        a global batch of `budget` tokens."""
        return budget

    def distribute_dataset(self, dataset, num_batches, training=True):
        """The batches this process feeds to `fit`.

        Args:
            dataset: the pipeline's batches, built with `token_budget(...)`.
            num_batches: how many batches `dataset` holds per epoch.
            training: `False` for validation batches.
        """
        return dataset

    def prepare_model(self, model):
        """Adapts a compiled model to the strategy (before `fit`)."""

    def callbacks(self):
        """Callbacks `fit` needs under this strategy, after all others."""
        return []

    def barrier(self):
        """Waits until every process has arrived here."""

    def chief_first(self, function):
        """Runs `function` on the chief, then on the other processes (which
        may read what the chief wrote); returns its result."""
        if self.is_chief:
            result = function()
            self.barrier()
            return result
        self.barrier()
        return function()


def pad_rows_to_multiple(dataset, multiple):
    """Pads each batch with empty rows to a multiple of `multiple` rows.

    The rows are padding tokens (`PAD_ID`) with sample weight 0, as the data
    pipeline pads a bucket's last batch: they change neither the loss nor
    the gradients, and let every replica get the same number of rows.
    """
    if multiple == 1:
        return dataset

    def pad(*batch):
        rows = tf.shape(tf.nest.flatten(batch)[0])[0]
        missing = (multiple - rows % multiple) % multiple

        def pad_tensor(tensor):
            paddings = [[0, missing]] + [[0, 0]] * (tensor.shape.rank - 1)
            value = PAD_ID if tensor.dtype.is_integer else 0
            return tf.pad(tensor, paddings, constant_values=value)

        return tf.nest.map_structure(pad_tensor, batch)

    return dataset.map(pad)


def install_global_means(model, sum_across, loss_scale=1.0):
    """Makes each replica's loss, gradient and metrics those of the global
    batch.

    Each replica's loss is a token mean over its own rows; averaging those
    means would weigh a token by how many tokens its replica happened to
    get. Instead every replica's loss becomes its share of the global token
    mean, `loss_r * n_r / sum(n)` with `n_r` its (sample-weighted) label
    tokens, so gradients summed over replicas equal the gradient of the
    global batch's token mean, as on one device. The value each replica
    reports is the global mean itself, and `get_metrics_result` sums metric
    states over the replicas before computing results, so logs are those of
    the global batch.

    Args:
        model: a compiled model whose loss has a `padding_id` (the token
            count needs it; without one only the metrics are summed).
        sum_across: `sum_across(tensors)` returns the tensors summed over all
            replicas, or `None` where there is nothing to sum (outside a
            replica context).
        loss_scale: the factor Keras already multiplied each replica's loss
            by (TensorFlow: `1 / replicas`); gradients are then summed.
    """
    padding_id = getattr(model.loss, "padding_id", None)
    compute_loss = model.compute_loss
    get_metrics_result = model.get_metrics_result

    def global_token_mean(
        x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        loss = compute_loss(x, y, y_pred, sample_weight, training=training)
        local = loss / loss_scale
        tokens = _label_tokens(y, sample_weight, padding_id)
        summed = sum_across([tokens, ops.stop_gradient(local) * tokens])
        if summed is None:
            return loss
        total, weighted = summed
        share = local * ops.divide_no_nan(tokens, total)
        global_mean = ops.divide_no_nan(weighted, total) * loss_scale
        # Valued the global mean; differentiated as this replica's share.
        return share + ops.stop_gradient(global_mean - share)

    def summed_metrics_result():
        metrics = model.metrics
        states = [ops.convert_to_tensor(v) for m in metrics for v in m.variables]
        summed = sum_across(states)
        if summed is None:
            return get_metrics_result()
        results, start = {}, 0
        for metric in metrics:
            end = start + len(metric.variables)
            result = metric.stateless_result(list(summed[start:end]))
            start = end
            if isinstance(result, dict):
                results.update(result)
            else:
                results[metric.name] = result
        return results

    if padding_id is not None:
        model.compute_loss = global_token_mean
    model.get_metrics_result = summed_metrics_result


def _label_tokens(labels, sample_weight, padding_id):
    """The weight the loss divides by: non-padding labels, times their
    sample weights, summed (a float32 scalar)."""
    labels = ops.convert_to_tensor(labels)
    weights = ops.cast(ops.not_equal(labels, padding_id), "float32")
    if sample_weight is not None:
        sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        while len(sample_weight.shape) > len(weights.shape):
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        while len(sample_weight.shape) < len(weights.shape):
            sample_weight = ops.expand_dims(sample_weight, axis=-1)
        weights = weights * sample_weight
    return ops.sum(weights)
