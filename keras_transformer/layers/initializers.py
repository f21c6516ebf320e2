"""Initializer helpers."""


def clone_initializer(initializer):
    """A fresh copy of a Keras initializer, one per sub-layer.

    Sharing one instance between sub-layers makes Keras warn, and a seeded
    initializer reused would give identical kernels (as in keras-hub).
    """
    return initializer.__class__.from_config(initializer.get_config())
