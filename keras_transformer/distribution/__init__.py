"""Training on many devices through each backend's own engine.

One configuration value, `train.devices` (with `train.model_parallel` on
JAX), picks the strategy that `train()` uses:

- TensorFlow: `tf.distribute.MirroredStrategy` over one machine's GPUs (or
  logical CPUs), `TPUStrategy` on a TPU. Keras 3's `fit` does not support
  `MultiWorkerMirroredStrategy`: train on several machines with JAX or
  PyTorch.
- JAX: `keras.distribution.DataParallel`, or `ModelParallel` with a
  `LayoutMap` that shards the large weights over a model axis
  (`transformer_layout_map`); several hosts join through
  `keras.distribution.initialize()` (`jax.distributed.initialize`).
- PyTorch: data parallelism over a `torch.distributed` process group, one
  process per device, launched with `torchrun`.

Whatever the device count, a step's global batch is the recipe's token
budget and its loss is the token mean over the global batch, so the
learning-rate schedule and the results are those of one device. With
`devices="auto"` on one device, nothing changes.

Example:

>>> devices = configure_devices("auto")
>>> devices.describe()
'one device'
"""

import keras

from keras_transformer.distribution.device_strategy import DeviceStrategy


def configure_devices(devices="auto", model_parallel=1):
    """The `DeviceStrategy` of this process, for the current backend.

    Call it before any model is built (and, on TensorFlow without GPUs,
    before any TensorFlow op runs).

    Args:
        devices: `"auto"` (all visible accelerators; under `torchrun`, its
            processes) or a device count.
        model_parallel: devices each large weight is sharded over (JAX
            only); the others form the data-parallel axis.

    Returns:
        A `DeviceStrategy`; the base class when training on one device.

    Raises:
        ValueError: the devices are not there, or the backend cannot use
            them that way (the message says what to do).
    """
    backend = keras.backend.backend()
    if model_parallel > 1 and backend != "jax":
        raise ValueError(
            f"train.model_parallel={model_parallel} shards weights with "
            "keras.distribution.ModelParallel, which only the JAX backend has: "
            "use KERAS_BACKEND=jax, or train.model_parallel=1."
        )
    if backend == "tensorflow":
        from keras_transformer.distribution.tensorflow_strategy import (
            tensorflow_strategy as make,
        )
    elif backend == "jax":
        from keras_transformer.distribution.jax_mesh import jax_mesh

        def make(devices):
            return jax_mesh(devices, model_parallel)
    elif backend == "torch":
        from keras_transformer.distribution.torch_process_group import (
            torch_process_group as make,
        )
    else:
        raise ValueError(f"No distribution for the {backend!r} backend.")
    return make(devices) or DeviceStrategy()


__all__ = ["DeviceStrategy", "configure_devices"]
