"""JAX: `keras.distribution` over a device mesh, data parallel or with the
large weights sharded over a model axis, on one host or many."""

import os

import jax
import keras
from jax.experimental import multihost_utils

from keras_transformer.distribution.device_strategy import (
    DeviceStrategy,
    pad_rows_to_multiple,
)

BATCH_AXIS = "batch"
MODEL_AXIS = "model"
# Variable paths (regexes, matched whole) of the Transformer's large weights
# and how each is split over the model axis, Megatron-style: the first
# projection of a pair splits its output columns, the second its input rows,
# so the pair needs one all-reduce. Other weights are replicated.
WEIGHT_LAYOUTS = {
    r".*token_embedding/embeddings": (None, MODEL_AXIS),
    r".*token_embedding/reverse_embeddings": (MODEL_AXIS, None),
    r".*attention/(query|key|value)/kernel": (None, MODEL_AXIS),
    r".*attention/(query|key|value)/bias": (MODEL_AXIS,),
    r".*attention/attention_output/kernel": (MODEL_AXIS, None),
    r".*feed_forward/intermediate_dense/kernel": (None, MODEL_AXIS),
    r".*feed_forward/intermediate_dense/bias": (MODEL_AXIS,),
    r".*feed_forward/output_dense/kernel": (MODEL_AXIS, None),
}
_MULTI_PROCESS_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
)


def transformer_layout_map(device_mesh):
    """A `keras.distribution.LayoutMap` that shards the Transformer's
    embeddings, attention projections and feed-forward weights over the
    mesh's `"model"` axis (see `WEIGHT_LAYOUTS`)."""
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, axes in WEIGHT_LAYOUTS.items():
        layout_map[pattern] = axes
    return layout_map


class JaxMesh(DeviceStrategy):
    """A `keras.distribution` distribution, current while the model is built,
    compiled and fitted.

    JAX runs each step as one program over the mesh, so the loss and the
    gradients are those of the global batch by construction. Batches are
    padded with empty rows to a multiple of the batch axis.

    Args:
        distribution: a `DataParallel` or `ModelParallel`.
    """

    def __init__(self, distribution):
        self.distribution = distribution
        self.replicas = distribution.num_model_replicas
        self.num_processes = jax.process_count()
        self.process_index = jax.process_index()

    def describe(self):
        mesh = self.distribution.device_mesh
        axes = " x ".join(
            f"{size} ({name})"
            for size, name in zip(mesh.shape, mesh.axis_names, strict=True)
        )
        hosts = f" on {self.num_processes} hosts" if self.num_processes > 1 else ""
        return (
            f"keras.distribution.{type(self.distribution).__name__} over "
            f"{jax.device_count()} {jax.devices()[0].platform.upper()} devices, "
            f"mesh {axes}{hosts}"
        )

    def scope(self):
        return self.distribution.scope()

    def distribute_dataset(self, dataset, num_batches, training=True):
        # Keras gives each host its part of every batch (`distribute_dataset`).
        return pad_rows_to_multiple(dataset, self.replicas)

    def barrier(self):
        if self.num_processes > 1:
            multihost_utils.sync_global_devices("keras_transformer")


def jax_mesh(devices, model_parallel=1):
    """The strategy for `devices` (`"auto"` or a count) with `model_parallel`
    devices sharing each weight; `None` for one device.

    With `KERAS_DISTRIBUTION_JOB_ADDRESSES` or `KERAS_DISTRIBUTION_NUM_PROCESSES`
    set (one process per host), `keras.distribution.initialize()` joins the
    hosts first (`jax.distributed.initialize`), and the mesh spans them all.
    """
    if any(os.environ.get(name) for name in _MULTI_PROCESS_VARIABLES):
        keras.distribution.initialize()
    available = keras.distribution.list_devices()
    count = len(available) if devices == "auto" else devices
    if count > len(available):
        raise ValueError(
            f"train.devices={devices}, but JAX sees {len(available)} device(s). "
            "On a CPU, simulate more by starting with "
            f"XLA_FLAGS=--xla_force_host_platform_device_count={count}."
        )
    if count % model_parallel:
        raise ValueError(
            f"train.model_parallel={model_parallel} must divide the {count} "
            "devices trained on."
        )
    if count == 1:
        return None
    if model_parallel > 1 and jax.process_count() > 1:
        raise ValueError(
            "train.model_parallel > 1 on several hosts is not supported: the "
            "chief writes backups and checkpoints from whole weights, which a "
            "host cannot read when they are sharded across hosts. Use "
            "train.model_parallel=1 (data parallel) on several hosts."
        )
    chosen = available[:count]
    if model_parallel == 1:
        return JaxMesh(keras.distribution.DataParallel(devices=chosen))
    mesh = keras.distribution.DeviceMesh(
        (count // model_parallel, model_parallel), (BATCH_AXIS, MODEL_AXIS), chosen
    )
    return JaxMesh(
        keras.distribution.ModelParallel(
            layout_map=transformer_layout_map(mesh), batch_dim_name=BATCH_AXIS
        )
    )
