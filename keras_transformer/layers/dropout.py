"""Dropout whose masks follow the layer's saved seed state on every backend."""

import random

import keras


def seeded_dropout(rate, name, dtype=None):
    """A `keras.layers.Dropout` with an explicit seed.

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
    return keras.layers.Dropout(rate, seed=seed, dtype=dtype, name=name)
