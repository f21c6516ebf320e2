"""Dropout whose masks follow the layer's saved seed state on every backend."""

import math
import random

import keras
from keras import ops

# Multiplier of the 32-bit integer hash below (Wellons' "lowbias32" family).
_HASH_MULTIPLIER = 0x45D9F3B
_MASK_32 = 0xFFFFFFFF


@keras.saving.register_keras_serializable(package="keras_transformer")
class SeededDropout(keras.layers.Dropout):
    """`keras.layers.Dropout` whose masks compile on PyTorch.

    On TensorFlow and JAX this is Keras' seeded Dropout. On PyTorch, Keras
    draws a seeded mask from a `torch.Generator`, which `torch.compile`
    cannot trace (Keras wraps that call in `torch.compiler.disable`), so a
    compiled train step would break its graph at every dropout. Here the
    mask is a function of the seed state and the element's index instead:
    a 32-bit integer hash of both, kept where it falls below
    `(1 - rate) * 2**32`. It is plain `keras.ops` (fused into neighbouring
    kernels when compiled), gives the same mask eagerly and compiled, and,
    as Keras' own seeded dropout, advances the saved seed state by one per
    call, so a run resumed from a backup drops the units the uninterrupted
    run drops.
    """

    def call(self, inputs, training=False):
        on_torch = keras.backend.backend() == "torch"
        if not (on_torch and training and self.rate > 0 and self.noise_shape is None):
            return super().call(inputs, training=training)
        state = self.seed_generator.state
        seed = ops.bitwise_and(ops.cast(state.value, "int64"), _MASK_32)
        state.assign(state.value + ops.convert_to_tensor([0, 1], state.dtype))
        threshold = int((1.0 - self.rate) * 2**32)
        keep = ops.less(_uniform_bits(ops.shape(inputs), seed), threshold)
        scaled = inputs / ops.cast(1.0 - self.rate, inputs.dtype)
        return ops.where(keep, scaled, ops.zeros_like(inputs))


def _hash32(x):
    """A 32-bit avalanche hash of int64 values in [0, 2**32) (kept there)."""
    for _ in range(2):
        x = ops.bitwise_xor(x, ops.right_shift(x, 16)) * _HASH_MULTIPLIER
        x = ops.bitwise_and(x, _MASK_32)
    return ops.bitwise_xor(x, ops.right_shift(x, 16))


def _uniform_bits(shape, seed):
    """int64 tensor of `shape`, uniform in [0, 2**32), from the 2-word seed.

    Element i gets hash(i + hash(word 0 ^ hash(word 1))); the seed's
    counter word advances once per call, so each call draws a fresh mask.
    Products stay below 2**59, so nothing overflows int64. (Element indices
    wrap at 2**32, far beyond any activation.)
    """
    offset = _hash32(ops.bitwise_xor(seed[0], _hash32(seed[1])))
    size = math.prod(shape)
    index = ops.arange(size, dtype="int64")
    return ops.reshape(_hash32(ops.bitwise_and(index + offset, _MASK_32)), shape)


def seeded_dropout(rate, name, dtype=None):
    """A `SeededDropout` with an explicit seed.

    A seeded Dropout draws its masks from its `SeedGenerator`, whose state is
    a variable saved with the weights and in training backups, on every
    backend. Unseeded, Keras' PyTorch backend draws them from torch's global
    generator instead, so a run resumed from a backup would drop other units
    than the uninterrupted run. The seed is drawn the way Keras draws a
    default one (`random.randint(1, 10**9)`, reproducible after
    `keras.utils.set_random_seed`), so on TensorFlow and JAX the masks are
    those of an unseeded layer.

    Args:
        rate: fraction of units dropped; no seed is drawn when it is 0.
        name: the layer's name.
        dtype: the layer's dtype policy.
    """
    seed = random.randint(1, int(1e9)) if rate > 0 else None
    return SeededDropout(rate, seed=seed, dtype=dtype, name=name)
