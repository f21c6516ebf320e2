"""What a `model.save_weights` file holds, read without loading it."""

import h5py

WEIGHTS_SUFFIX = ".weights.h5"


def read_weights_layout(path):
    """`{dataset name: shape}` of every array in an HDF5 file such as a
    `.weights.h5` (a compiled model's also holds `optimizer/...` arrays).

    Raises:
        ValueError: the file is not HDF5 (a text file, a truncated copy),
            naming it.
    """
    layout = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            layout[name] = tuple(item.shape)

    try:
        with h5py.File(path, "r") as file:
            file.visititems(visit)
    except OSError as error:
        raise ValueError(
            f"Could not read {path!r} as HDF5 ({error}): it is not a weights "
            f"file, or a damaged one. Pass a {WEIGHTS_SUFFIX} file written by "
            "model.save_weights, such as <workdir>/checkpoints/best.weights.h5."
        ) from None
    return layout
