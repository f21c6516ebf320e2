"""The corpus: deterministic train, valid and test splits."""

import random

from keras_transformer.data.builtin_corpus.lexicon import WORD
from keras_transformer.data.builtin_corpus.sentences import Numbers, random_pair

BUILTIN_CORPUS_NAME = "builtin-en-de"
SPLITS = ("train", "valid", "test")


def generate_builtin_corpus(seed=0, train_size=20000, valid_size=500, test_size=500):
    """Returns {"train": [(english, german), ...], "valid": [...], "test": [...]}.

    Deterministic in `seed`. English sentences are unique across all splits.
    Held-out sentences use only words seen in train (guaranteed unless train
    is too small to cover them after many tries; then coverage is dropped)."""
    sizes = {"train": train_size, "valid": valid_size, "test": test_size}
    for split, size in sizes.items():
        if size < 0:
            raise ValueError(f"{split}_size must be >= 0, got {size}")
    rng = random.Random(seed)
    reserved = rng.sample([n for n in range(21, 1000) if n % 100 != 1], 100)
    numbers = Numbers(sorted(reserved), train=True)
    train, seen = [], set()
    while len(train) < train_size:
        en, de = random_pair(rng, numbers)
        if en not in seen:
            seen.add(en)
            train.append((en, de))
    en_vocabulary = {w for en, _ in train for w in WORD.findall(en)}
    de_vocabulary = {w for _, de in train for w in WORD.findall(de)}
    held_out_numbers = Numbers(numbers.reserved, train=False)
    needed, held_out = valid_size + test_size, []
    tries_left = 20 * needed + 1000
    while len(held_out) < needed:
        en, de = random_pair(rng, held_out_numbers)
        tries_left -= 1
        if en in seen:
            continue
        covered = en_vocabulary.issuperset(WORD.findall(en)) and (
            de_vocabulary.issuperset(WORD.findall(de))
        )
        if covered or tries_left < 0:
            seen.add(en)
            held_out.append((en, de))
    return {
        "train": train,
        "valid": held_out[:valid_size],
        "test": held_out[valid_size:],
    }
