"""A corpus's fingerprint, kept in a run's work directory: a run resumed
after its corpus files changed would mix two corpora (its tokenizer and its
backups belong to the old one), so that is an error, not a surprise."""

import hashlib
import json
import os

from keras_transformer.atomic import atomic_write_bytes
from keras_transformer.data.readers import CorpusError


def corpus_fingerprint(splits):
    """`{file name: {"bytes": size, "sha256": digest}}` of every file of the
    splits (`find_splits`' result), sorted by name."""
    paths = []
    for files in splits.values():
        paths += [files.source_path, files.target_path, files.tsv_path]
    fingerprint = {}
    for path in sorted({os.fspath(p) for p in paths if p is not None}):
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        fingerprint[os.path.basename(path)] = {
            "bytes": os.path.getsize(path),
            "sha256": digest.hexdigest(),
        }
    return fingerprint


def check_corpus_unchanged(splits, path, directory):
    """Compares the splits' files with the fingerprint in `path` (written,
    atomically, on the first call). `directory` names the corpus in errors.

    Raises:
        CorpusError: a file was added, removed or changed since the run
            began, naming each.
    """
    found = corpus_fingerprint(splits)
    if not os.path.isfile(path):
        atomic_write_bytes(path, json.dumps(found, indent=2).encode())
        return
    with open(path, encoding="utf-8") as file:
        recorded = json.load(file)
    changes = []
    for name in sorted(set(recorded) | set(found)):
        if name not in found:
            changes.append(f"{name} is gone")
        elif name not in recorded:
            changes.append(f"{name} is new")
        elif recorded[name] != found[name]:
            before, now = recorded[name]["bytes"], found[name]["bytes"]
            changes.append(f"{name} changed ({before:,} bytes then, {now:,} now)")
    if changes:
        raise CorpusError(
            f"The corpus in {directory} changed since this run began: "
            f"{'; '.join(changes)}. The run's tokenizer and backups belong to "
            f"the corpus recorded in {path}. Restore those files, or train "
            "the new corpus in a new work directory (--workdir)."
        )
