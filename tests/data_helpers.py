"""A small deterministic English-German corpus the data tests train on."""

import random

SUBJECTS = [
    ("The dog", "Der Hund"),
    ("A woman", "Eine Frau"),
    ("The child", "Das Kind"),
]
VERBS = [
    ("runs", "läuft"),
    ("sleeps", "schläft"),
    ("sings", "singt"),
    ("waits", "wartet"),
]
PLACES = [
    ("in the park", "im Park"),
    ("at home", "zu Hause"),
    ("near the river", "in der Nähe des Flusses"),
    ("on the street", "auf der Straße"),
]


def make_pairs(count, seed=0):
    """`count` sentence pairs like ("The dog runs in the park.", "Der Hund ...")."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        (s_en, s_de), (v_en, v_de), (p_en, p_de) = (
            rng.choice(SUBJECTS),
            rng.choice(VERBS),
            rng.choice(PLACES),
        )
        repeat = rng.randint(1, 4)  # varied lengths for bucketing
        pairs.append(
            (
                " and ".join([f"{s_en} {v_en} {p_en}"] * repeat) + ".",
                " und ".join([f"{s_de} {v_de} {p_de}"] * repeat) + ".",
            )
        )
    return pairs
