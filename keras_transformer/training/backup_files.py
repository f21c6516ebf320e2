"""The backup directory: writing a backup atomically, finding and loading
the latest complete one, and matching its arrays to a model's variables by
path, whichever backend wrote it."""

import collections
import json
import os
import re
import shutil
import warnings
import zipfile

import keras
import numpy as np

from keras_transformer.atomic import (
    atomic_write_bytes,
    commit_directory,
    fsync_directory,
    temporary_path,
)

FORMAT_VERSION = 1
POINTER_FILE = "latest"
STATE_FILE = "state.npz"
METADATA_FILE = "metadata.json"

# `backup-00000012` is complete; `.tmp-` ones are being written, `.trash-`
# ones being deleted: neither is ever loaded.
# `backup-00000012`, or one being written (`.tmp-<pid>-<token>-backup-...`,
# see keras_transformer.atomic; `.tmp-backup-...` from older versions) or
# being deleted (`.trash-backup-...`).
_BACKUP_NAME = re.compile(r"^(\.tmp-(?:\d+-[0-9a-f]+-)?|\.trash-)?backup-(\d{8,})$")
# Keras numbers auto-generated names per process (`seed_generator_7`,
# `adam_1`), so the same model has other paths in another process.
_AUTO_NUMBER = re.compile(r"_\d+(?=/|#|$)")
_REQUIRED_METADATA = ("format_version", "epoch", "step", "finished", "backend")
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile)


def restore_latest(model, backup_dir):
    """Loads the latest complete backup into `model`.

    Restores every model variable and, when the model is compiled, the
    optimizer's (building the optimizer first), matched by variable path.
    Paths that differ only in Keras' per-process numbering of generated
    names (`seed_generator_3`, `adam_1`) are matched in order. Works on any
    backend, whichever backend wrote the backup.

    Args:
        model: a built `keras.Model` of the architecture that was backed up.
        backup_dir: the directory given to `TrainingBackup`.

    Returns:
        The backup's metadata (`epoch`, `step`, `epochs`, `iterations`,
        `finished`, `backend`, ...) plus `path`, its directory; `None` if
        `backup_dir` holds no backup.

    Raises:
        ValueError: the backup does not match the model (the message lists
            the differences).
        RuntimeError: backups exist but none can be read.
    """
    found = _load_latest(backup_dir, with_arrays=True)
    if found is None:
        return None
    metadata, arrays = found
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} is not built: build it (call it on a batch) "
            "before restoring a backup into it."
        )
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    pairs = _match(model.variables, arrays, "model/", metadata["path"])
    if optimizer is not None:
        pairs += _match(
            optimizer.variables,
            arrays,
            "optimizer/",
            metadata["path"],
            strip=optimizer.name + "/",
        )
    for variable, value in pairs:
        variable.assign(value)
    metadata["metric_states"] = {
        key[len(METRICS_PREFIX) :]: value
        for key, value in arrays.items()
        if key.startswith(METRICS_PREFIX)
    }
    return metadata


def read_backup_metadata(backup_dir):
    """The metadata of the backup `restore_latest` would load, or `None`.

    Reads `metadata.json` and checks that `state.npz` opens; the arrays
    themselves are only read (and checksummed) by `restore_latest`.
    """
    found = _load_latest(backup_dir, with_arrays=False)
    return None if found is None else found[0]


# === Reading ===


def _entries(directory):
    """`(number, name, complete)` of each backup entry, oldest first."""
    matches = [_BACKUP_NAME.match(name) for name in os.listdir(directory)]
    return sorted((int(m[2]), m[0], not m[1]) for m in matches if m)


def _candidates(directory):
    """Backup directories, best first: the pointer's, then newest first."""
    if not os.path.isdir(directory):
        return []
    names = [name for _, name, complete in reversed(_entries(directory)) if complete]
    pointer = os.path.join(directory, POINTER_FILE)
    if os.path.exists(pointer):
        with open(pointer, "rb") as file:
            target = file.read().decode("ascii", "replace").strip()
        if target in names:
            names.remove(target)
        names.insert(0, target)  # Loading it fails if it is not a backup.
    return [os.path.join(directory, name) for name in names]


def _load_latest(directory, with_arrays):
    problems = []
    for path in _candidates(os.fspath(directory)):
        try:
            return _load(path, with_arrays)
        except _UNREADABLE as error:
            problems.append(f"{path}: {type(error).__name__}: {error}")
            warnings.warn(f"Skipping unreadable backup {problems[-1]}", stacklevel=3)
    if problems:
        raise RuntimeError(
            f"No backup in {directory!r} can be read:\n  "
            + "\n  ".join(problems)
            + "\nDelete the directory to start the run from scratch."
        )
    return None


def _load(path, with_arrays):
    match = _BACKUP_NAME.match(os.path.basename(path))
    if not match or match[1]:
        raise ValueError(f"the pointer names {os.path.basename(path)!r}")
    with open(os.path.join(path, METADATA_FILE)) as file:
        metadata = json.load(file)
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing:
        raise KeyError(f"{METADATA_FILE} lacks {missing}")
    version = metadata["format_version"]
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"format version {version!r} is newer than this library's")
    metadata["path"] = path
    with np.load(os.path.join(path, STATE_FILE), allow_pickle=False) as state:
        arrays = {key: state[key] for key in state.files} if with_arrays else None
    return metadata, arrays


def _keys(variables, prefix, strip=None):
    """`prefix + path` per variable; `#n` marks the n-th repeat of a path."""
    seen = collections.Counter()
    keys = []
    for variable in variables:
        path = variable.path
        if strip and path.startswith(strip):
            path = path[len(strip) :]
        key = prefix + path
        keys.append(f"{key}#{seen[key]}" if seen[key] else key)
        seen[key] += 1
    return keys


def _match(variables, arrays, prefix, source, strip=None):
    """(variable, array) pairs; raises ValueError listing any mismatch."""
    keys = _keys(variables, prefix, strip)
    stored = [key for key in arrays if key.startswith(prefix)]
    if set(keys) != set(stored):
        # The same variables, in the same order, may differ only in Keras'
        # numbering of generated names.
        if [_unnumbered(key) for key in keys] != [_unnumbered(key) for key in stored]:
            _mismatch(
                source,
                _listed("missing", [key for key in keys if key not in arrays])
                + _listed("not in the model", sorted(set(stored) - set(keys))),
            )
        keys = stored
    _mismatch(
        source,
        _listed(
            "other shape",
            [
                f"{key} {arrays[key].shape} (model: {tuple(var.shape)})"
                for var, key in zip(variables, keys, strict=True)
                if arrays[key].shape != tuple(var.shape)
            ],
        ),
    )
    return [(var, arrays[key]) for var, key in zip(variables, keys, strict=True)]


def _mismatch(source, problems):
    if problems:
        raise ValueError(
            f"The backup in {source!r} does not match the model ("
            + "; ".join(problems)
            + "). Was it written for another architecture or optimizer?"
        )


def _unnumbered(key):
    return _AUTO_NUMBER.sub("", key)


def _listed(label, names):
    if not names:
        return []
    return [f"{label}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"]


# === Writing ===


METRICS_PREFIX = "metrics/"


def state_arrays(model, metrics=False):
    """The arrays of a backup: every model and optimizer variable, and with
    `metrics` the metric states (`metrics/<path>`: running totals and counts
    of the epoch so far, which loaders that do not know them ignore)."""
    variables = {"model/": (model.variables, None)}
    if metrics:
        variables[METRICS_PREFIX] = (model.metrics_variables, None)
    if model.optimizer is not None and model.optimizer.built:
        optimizer = model.optimizer
        variables["optimizer/"] = (optimizer.variables, optimizer.name + "/")
    arrays = {}
    for prefix, (group, strip) in variables.items():
        for key, variable in zip(_keys(group, prefix, strip), group, strict=True):
            value = np.asarray(keras.ops.convert_to_numpy(variable))
            if value.dtype.kind not in "biuf":  # bfloat16: no numpy dtype
                value = value.astype("float32")
            arrays[key] = value
    return arrays


def write_backup(directory, arrays, metadata, keep):
    """Writes one backup, commits it, then deletes the surplus ones."""
    _make_directory(directory)
    number = max((number for number, _, _ in _entries(directory)), default=0)
    name = f"backup-{number + 1:08d}"
    # A complete backup appears at once, flushed to disk. An interrupted
    # write leaves its temporary directory, which loading ignores and the
    # next write prunes.
    final = os.path.join(directory, name)
    temporary = temporary_path(final)
    os.mkdir(temporary)
    with open(os.path.join(temporary, STATE_FILE), "wb") as file:
        np.savez(file, **arrays)
    with open(os.path.join(temporary, METADATA_FILE), "wb") as file:
        file.write(json.dumps(metadata, indent=2).encode())
    commit_directory(temporary, final)
    # The commit.
    atomic_write_bytes(os.path.join(directory, POINTER_FILE), name.encode())
    _prune(directory, keep)


def _prune(directory, keep):
    """Deletes all but the newest `keep` backups and any leftovers."""
    complete = [name for _, name, complete in _entries(directory) if complete]
    for name in complete[:-keep]:
        # Renamed first, so a half-deleted backup is never a candidate.
        trash = os.path.join(directory, ".trash-" + name)
        os.replace(os.path.join(directory, name), trash)
    for _, name, complete in _entries(directory):
        if not complete:
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _make_directory(directory):
    if not os.path.isdir(directory):
        os.makedirs(directory, exist_ok=True)
        fsync_directory(os.path.dirname(os.path.abspath(directory)))
