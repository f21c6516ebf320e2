"""TensorFlow: `tf.distribute.MirroredStrategy` on one machine's GPUs (or
logical CPUs), `TPUStrategy` on a TPU."""

import glob
import json
import os

import tensorflow as tf

from keras_transformer.distribution.device_strategy import (
    DeviceStrategy,
    pad_rows_to_multiple,
)
from keras_transformer.fit_hooks import use_global_batch_means


class TensorFlowStrategy(DeviceStrategy):
    """A `tf.distribute` strategy: the model is built and compiled in its
    scope, and `fit` splits each global batch over the replicas.

    Batches are padded with empty rows to a multiple of the replica count,
    so every replica gets as many rows, and the loss of each replica is its
    share of the global token mean (`use_global_batch_means`).

    Args:
        strategy: a `MirroredStrategy` or `TPUStrategy`.
        kind: the devices in words, for the log.
    """

    def __init__(self, strategy, kind):
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        self.kind = kind

    def describe(self):
        return (
            f"{type(self.strategy).__name__} over {self.replicas} {self.kind} "
            f"({', '.join(self.strategy.extended.worker_devices)})"
        )

    def scope(self):
        return self.strategy.scope()

    def distribute_dataset(self, dataset, num_batches, training=True):
        return pad_rows_to_multiple(dataset, self.replicas)

    def prepare_model(self, model):
        use_global_batch_means(model, _sum_over_replicas, loss_scale=1 / self.replicas)


def _sum_over_replicas(tensors):
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors))


def tensorflow_strategy(devices):
    """The strategy for `devices` (`"auto"` or a count); `None` for one
    device.

    A TPU (a TPU VM, or `TPU_NAME`) gets `TPUStrategy` over all its cores;
    GPUs get `MirroredStrategy`. Without either, a count above 1 splits the
    CPU into that many logical devices: a simulation for tests, slower than
    one device.
    """
    _reject_multi_worker()
    tpu = _tpu_strategy()
    if tpu is not None:
        if devices not in ("auto", tpu.num_replicas_in_sync):
            raise ValueError(
                f"train.devices={devices}, but TPUStrategy trains on all "
                f"{tpu.num_replicas_in_sync} TPU cores: set train.devices=auto."
            )
        return TensorFlowStrategy(tpu, "TPU cores")
    # Physical devices: listing logical ones would fix the device setup.
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = len(gpus) if devices == "auto" else devices
        if count > len(gpus):
            raise ValueError(
                f"train.devices={devices}, but TensorFlow sees {len(gpus)} GPU(s)."
            )
        if count == 1:
            return None
        names = [f"/gpu:{index}" for index in range(count)]
        return TensorFlowStrategy(tf.distribute.MirroredStrategy(names), "GPUs")
    if devices == "auto" or devices == 1:
        return None
    names = [cpu.name for cpu in _logical_cpus(devices)[:devices]]
    return TensorFlowStrategy(tf.distribute.MirroredStrategy(names), "logical CPUs")


def _logical_cpus(count):
    try:
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0],
            [tf.config.LogicalDeviceConfiguration() for _ in range(count)],
        )
    except RuntimeError:
        pass  # TensorFlow has set up its devices already: use those.
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < count:
        raise ValueError(
            f"train.devices={count} on a machine without GPUs needs {count} "
            f"logical CPU devices, and TensorFlow has set up {len(cpus)} already: "
            "choose the devices before any TensorFlow op runs."
        )
    return cpus


def _tpu_strategy():
    name = os.environ.get("TPU_NAME")
    if name is None and not glob.glob("/dev/accel*"):
        return None
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=name or "local")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _reject_multi_worker():
    """Keras 3's `fit` fails under `MultiWorkerMirroredStrategy` (keras
    issue 20585: it reduces a `PerReplica` batch while building the model),
    so a multi-worker `TF_CONFIG` is an error rather than a silent
    single-worker run."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    if workers > 1:
        raise ValueError(
            f"TF_CONFIG describes {workers} workers, but Keras 3's fit does not "
            "support tf.distribute.MultiWorkerMirroredStrategy. Train on several "
            "machines with KERAS_BACKEND=jax (keras.distribution) or "
            "KERAS_BACKEND=torch (torchrun); see docs/scaling.md."
        )
