"""What a `model.save_weights` file holds, read without loading it."""

import h5py

WEIGHTS_SUFFIX = ".weights.h5"


def read_weights_layout(path):
    """`{dataset name: shape}` of every array in an HDF5 file such as a
    `.weights.h5` (a compiled model's also holds `optimizer/...` arrays)."""
    layout = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            layout[name] = tuple(item.shape)

    with h5py.File(path, "r") as file:
        file.visititems(visit)
    return layout
