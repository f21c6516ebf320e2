"""PyTorch: data parallelism over a `torch.distributed` process group, one
process per device, started by `torchrun`.

Keras has no distribution for `fit` on PyTorch, and a plain `fit` inside
`DistributedDataParallel` does not synchronize gradients (Keras' train step
calls the model, not the DDP wrapper). This strategy does what DDP does,
through the hooks Keras' torch trainer offers: every rank starts from rank
0's weights, and the gradients are summed over the ranks (one all-reduce
of one flat buffer) before the optimizer applies them.
"""

import atexit
import datetime
import os

import keras
import torch
import torch.distributed as dist

from keras_transformer.distribution.device_strategy import DeviceStrategy
from keras_transformer.fit_hooks import (
    sum_gradients_before_apply,
    use_global_batch_means,
)


class TorchProcessGroup(DeviceStrategy):
    """Data parallelism over the ranks of a `torch.distributed` process group.

    Each rank reads every `world_size`-th batch of a pipeline built with
    `1 / world_size` of the recipe's token budget, so a step's global batch
    is the recipe's; the learning-rate schedule, which counts steps, is
    unchanged. A rank's loss is its share of the global token mean
    (`use_global_batch_means`), so the summed gradients are those of the
    global batch. Validation batches are not split: every rank evaluates
    them all, and the metrics agree.

    Args:
        rank: this process's rank.
        world_size: the number of ranks.
    """

    def __init__(self, rank, world_size):
        self.process_index = rank
        self.num_processes = world_size
        self.replicas = world_size

    def describe(self):
        return (
            f"torch.distributed ({dist.get_backend()}) over {self.num_processes} "
            f"processes; this is rank {self.process_index}"
        )

    def token_budget(self, budget):
        if budget < self.num_processes:
            raise ValueError(
                f"data.token_budget ({budget}) is smaller than the "
                f"{self.num_processes} ranks it is split over."
            )
        return budget // self.num_processes

    def distribute_dataset(self, dataset, num_batches, training=True):
        if not training:
            return dataset
        steps = num_batches // self.num_processes
        if steps == 0:
            raise ValueError(
                f"The training data has {num_batches} batches, fewer than the "
                f"{self.num_processes} ranks: lower data.token_budget."
            )
        # Every rank takes the same number of batches: a rank with one more
        # step would wait forever for the others' gradients.
        return dataset.take(steps * self.num_processes).shard(
            self.num_processes, self.process_index
        )

    def prepare_model(self, model):
        use_global_batch_means(model, _sum_over_ranks)
        sum_gradients_before_apply(model.optimizer, _sum_gradients)

    def callbacks(self):
        return [BroadcastFromChief()]

    def barrier(self):
        dist.barrier()


class BroadcastFromChief(keras.callbacks.Callback):
    """Copies rank 0's floating-point model variables to every rank when
    training begins (after a backup is restored), as DDP does."""

    def on_train_begin(self, logs=None):
        with torch.no_grad():
            for variable in self.model.variables:
                value = variable.value
                if torch.is_floating_point(value):
                    dist.broadcast(value.data, src=0)


def _sum_over_ranks(tensors):
    """Sums a list of tensors over the ranks in one all-reduce."""
    tensors = [torch.as_tensor(t) for t in tensors]
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
    dist.all_reduce(flat)
    summed, start = [], 0
    for tensor in tensors:
        end = start + tensor.numel()
        summed.append(flat[start:end].reshape(tensor.shape).to(tensor.dtype))
        start = end
    return summed


def _sum_gradients(gradients, variables):
    """The gradients summed over the ranks (a missing one counts as 0)."""
    if variables is not None:
        gradients = [
            torch.zeros_like(v.value) if g is None else g
            for g, v in zip(gradients, variables, strict=True)
        ]
    flat = torch.cat([g.reshape(-1) for g in gradients])
    dist.all_reduce(flat)
    summed, start = [], 0
    for gradient in gradients:
        end = start + gradient.numel()
        summed.append(flat[start:end].view_as(gradient))
        start = end
    return summed


def torch_process_group(devices):
    """The strategy of this `torchrun` rank; `None` for a single process.

    Reads `RANK`, `WORLD_SIZE` and `LOCAL_RANK` from `torchrun`, joins the
    process group (NCCL on GPUs, each rank on GPU `LOCAL_RANK`; gloo on
    CPUs), and checks `devices` against the world size.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        if devices not in ("auto", 1):
            raise ValueError(
                f"train.devices={devices} on PyTorch needs {devices} processes: "
                f"launch with `torchrun --nproc_per_node {devices} -m "
                "keras_transformer.cli train ...` (see docs/scaling.md)."
            )
        return None
    if devices not in ("auto", world_size):
        raise ValueError(
            f"train.devices={devices}, but torchrun started {world_size} "
            "processes: make them equal, or set train.devices=auto."
        )
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        # The chief alone translates for BLEU and the test split while the
        # others wait in their next collective: allow it an hour.
        dist.init_process_group(
            "nccl" if torch.cuda.is_available() else "gloo",
            timeout=datetime.timedelta(hours=1),
        )
        atexit.register(dist.destroy_process_group)
    return TorchProcessGroup(dist.get_rank(), dist.get_world_size())
