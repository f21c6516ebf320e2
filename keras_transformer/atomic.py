"""Atomic, durable writes of files and directories: a reader sees the old
version or the new one, never a half-written one, and a write that returned
survives a power cut. Every file the package writes for keeps goes through
here (configs, tokenizers, checkpoints, backups, translators, exports, the
built-in corpus).

Work in progress lives next to its destination under a name that starts
with `.tmp-<pid>-` (`TEMPORARY_PREFIX`), so a process killed mid-write
leaves nothing that looks finished.
"""

import contextlib
import os
import re
import secrets
import shutil

TEMPORARY_PREFIX = ".tmp-"
# `.tmp-<pid>-<token>-<name>`: what `temporary_path` makes.
TEMPORARY_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-[0-9a-f]+-(?P<name>.+)$")
# `<name>.previous-<pid>`: a directory `atomic_directory` was replacing.
PREVIOUS_NAME = re.compile(r"^(?P<name>.+)\.previous-(?P<pid>\d+)$")


def temporary_path(path):
    """A fresh name beside `path` for the version being written; it ends
    with `path`'s own name, so suffix checks (`.weights.h5`) still pass."""
    directory, name = os.path.split(os.path.abspath(path))
    token = secrets.token_hex(4)
    return os.path.join(directory, f"{TEMPORARY_PREFIX}{os.getpid()}-{token}-{name}")


def fsync_directory(path):
    """Makes renames and new entries in `path` durable (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_file(path):
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_tree(directory):
    for root, directories, files in os.walk(directory):
        for name in files:
            _fsync_file(os.path.join(root, name))
        for name in directories:
            fsync_directory(os.path.join(root, name))
    fsync_directory(directory)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def atomic_file(path):
    """Yields a temporary path to write the file at; when the block ends it
    is flushed to disk and renamed over `path` (`os.replace`). If the block
    raises, `path` is left as it was and the temporary is removed.

    For writers that want a file name (`model.save_weights(temporary)`).
    """
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    temporary = temporary_path(path)
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        _remove(temporary)
        raise
    fsync_directory(directory)


def atomic_write_bytes(path, data):
    """Writes `data` to `path` atomically and durably."""
    with atomic_file(path) as temporary, open(temporary, "xb") as file:
        file.write(data)


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
    temporary = temporary_path(path)
    os.mkdir(temporary)
    try:
        yield temporary
    except BaseException:
        _remove(temporary)
        raise
    commit_directory(temporary, path)


def commit_directory(temporary, path):
    """Flushes the directory `temporary` (made with `temporary_path(path)`)
    to disk and renames it to `path`, replacing what was there.

    For writers that manage their own leftovers: an interrupted write leaves
    `temporary` behind (a backup directory prunes its own).
    """
    _fsync_tree(temporary)
    previous = None
    if os.path.exists(path):
        previous = f"{path}.previous-{os.getpid()}"
        os.rename(path, previous)
    os.rename(temporary, path)
    fsync_directory(os.path.dirname(os.path.abspath(path)))
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(root):
    """Cleans up after writers killed mid-write under `root` (recursively):
    removes the temporaries of processes that are gone, and puts back a
    directory whose replacement was interrupted between its two renames.
    Returns the paths removed or restored."""
    cleaned = []
    if not os.path.isdir(root):
        return cleaned
    for directory, subdirectories, files in os.walk(root):
        for name in [*subdirectories, *files]:
            path = os.path.join(directory, name)
            temporary = TEMPORARY_NAME.match(name)
            previous = PREVIOUS_NAME.match(name)
            if temporary and not _alive(int(temporary["pid"])):
                _remove(path)
                cleaned.append(path)
            elif previous and not _alive(int(previous["pid"])):
                original = os.path.join(directory, previous["name"])
                if os.path.exists(original):
                    _remove(path)
                else:
                    os.rename(path, original)
                cleaned.append(path)
        subdirectories[:] = [
            name
            for name in subdirectories
            if os.path.isdir(os.path.join(directory, name))
        ]
    return cleaned
