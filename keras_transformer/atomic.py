"""Atomic writes of files and directories: a reader sees the old version or
the new one, never a half-written one."""

import contextlib
import os
import shutil
import tempfile


def _fsync_tree(directory):
    for root, _, files in os.walk(directory):
        for name in files:
            with open(os.path.join(root, name), "rb") as file:
                os.fsync(file.fileno())


@contextlib.contextmanager
def atomic_directory(path):
    """Yields a temporary directory that replaces `path` when the block ends.

    The content is written next to `path` and flushed to disk, then renamed
    into place. If the block raises, `path` is left as it was. Replacing an
    existing directory takes two renames (POSIX cannot swap a non-empty
    directory in one); a process killed between them leaves the previous
    version in `<path>.previous-<pid>` and nothing at `path`.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.tmp-")
    try:
        yield temporary
        _fsync_tree(temporary)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    previous = None
    if os.path.exists(path):
        previous = f"{path}.previous-{os.getpid()}"
        os.rename(path, previous)
    os.rename(temporary, path)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def atomic_write_bytes(path, data):
    """Writes `data` to `path` through a temporary file and `os.replace`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
