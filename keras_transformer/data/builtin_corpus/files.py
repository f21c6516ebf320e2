"""The built-in corpus as text files, for tools that read a corpus from disk."""

import os

from keras_transformer.atomic import atomic_write_bytes
from keras_transformer.data.builtin_corpus.corpus import SPLITS, generate_builtin_corpus


def write_builtin_corpus(directory, seed=0, **sizes):
    """Writes {split}.en and {split}.de for train, valid and test into
    `directory` (created if needed), UTF-8, one sentence per line, each file
    atomically; `sizes` are generate_builtin_corpus's train_size, valid_size,
    test_size. Returns {split: (en_path, de_path)}."""
    directory = os.fspath(directory)
    corpus = generate_builtin_corpus(seed=seed, **sizes)
    paths = {}
    for split in SPLITS:
        for side, language in enumerate(("en", "de")):
            text = "".join(pair[side] + "\n" for pair in corpus[split])
            atomic_write_bytes(
                os.path.join(directory, f"{split}.{language}"), text.encode("utf-8")
            )
        paths[split] = tuple(
            os.path.join(directory, f"{split}.{language}") for language in ("en", "de")
        )
    return paths
