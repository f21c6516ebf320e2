"""Atomic, durable writes: the old version or the new one, never half."""

import os
import stat
import subprocess
import sys

import pytest

from keras_transformer.atomic import (
    TEMPORARY_NAME,
    atomic_directory,
    atomic_file,
    atomic_write_bytes,
    remove_stale_temporaries,
    temporary_path,
)


def test_a_file_is_written_with_the_umasks_permissions_and_nothing_beside(tmp_path):
    path = tmp_path / "new" / "config.json"
    atomic_write_bytes(path, b"{}")
    assert path.read_bytes() == b"{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    assert os.listdir(path.parent) == ["config.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_file(path) as temporary:
        assert temporary.endswith("-model.weights.h5")  # suffix checks pass
        with open(temporary, "wb") as file:
            file.write(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.weights.h5"]


def test_a_directory_replaces_the_old_one_whole(tmp_path):
    path = tmp_path / "translator"
    with atomic_directory(path) as temporary:
        open(os.path.join(temporary, "a"), "w").close()
    with pytest.raises(RuntimeError), atomic_directory(path) as temporary:
        open(os.path.join(temporary, "b"), "w").close()
        raise RuntimeError("killed")
    assert os.listdir(path) == ["a"]
    with atomic_directory(path) as temporary:
        open(os.path.join(temporary, "c"), "w").close()
    assert os.listdir(path) == ["c"]
    assert os.listdir(tmp_path) == ["translator"]


def test_temporaries_are_recognizable(tmp_path):
    name = os.path.basename(temporary_path(tmp_path / "best.weights.h5"))
    match = TEMPORARY_NAME.match(name)
    assert match and match["name"] == "best.weights.h5"
    assert int(match["pid"]) == os.getpid()
    assert TEMPORARY_NAME.match("best.weights.h5") is None


def test_stale_temporaries_of_dead_writers_are_cleaned_up(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)  # a process that has ended
    (tmp_path / "checkpoints").mkdir()
    stale = tmp_path / "checkpoints" / f".tmp-{pid}-ab12-best.weights.h5"
    stale.write_bytes(b"half")
    (tmp_path / f".tmp-{pid}-cd34-translator").mkdir()
    live = tmp_path / f".tmp-{os.getpid()}-ef56-config.json"  # being written now
    live.write_bytes(b"{")
    # Killed between atomic_directory's two renames: the old version is put back.
    (tmp_path / f"translator.previous-{pid}").mkdir()
    (tmp_path / f"translator.previous-{pid}" / "model.keras").write_bytes(b"PK")
    cleaned = remove_stale_temporaries(tmp_path)
    assert len(cleaned) == 3
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["checkpoints", live.name, "translator"]
    )
    assert os.listdir(tmp_path / "checkpoints") == []
    assert (tmp_path / "translator" / "model.keras").read_bytes() == b"PK"
    assert remove_stale_temporaries(tmp_path / "missing") == []
