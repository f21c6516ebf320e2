"""`DeviceStrategy`: what a training run asks of its devices, on one device.

The backends' strategies (`tensorflow_strategy.py`, `jax_mesh.py`,
`torch_process_group.py`) override it; the helpers below are shared by them.
"""

import contextlib

import tensorflow as tf

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
