"""Tests of the built-in English→German corpus (pure Python, no Keras needed)."""

import ast
import os
import re
import sys

import pytest

from keras_transformer.data import builtin_corpus
from keras_transformer.data.builtin_corpus import (
    BUILTIN_CORPUS_NAME,
    clock_phrase,
    date_phrase,
    english_number,
    english_ordinal,
    generate_builtin_corpus,
    german_number,
    german_ordinal,
    lexicon,
    sentences,
    write_builtin_corpus,
)

WORD = re.compile(r"[^\s.,?]+")
FINITE_VERBS = {"habe", "hast", "hat", "haben", "bin", "bist", "ist", "sind", "war"}


@pytest.fixture(scope="module")
def corpus():
    return generate_builtin_corpus()


def words(sentences):
    return {word for sentence in sentences for word in WORD.findall(sentence)}


# ----------------------------------------------------------- number words

GERMAN_NUMBERS = {
    0: "null", 1: "eins", 7: "sieben", 11: "elf", 12: "zwölf", 16: "sechzehn",
    17: "siebzehn", 20: "zwanzig", 21: "einundzwanzig", 30: "dreißig",
    71: "einundsiebzig", 99: "neunundneunzig", 100: "hundert", 101: "hunderteins",
    110: "hundertzehn", 200: "zweihundert", 321: "dreihunderteinundzwanzig",
    700: "siebenhundert", 1000: "tausend", 1001: "tausendeins",
    1100: "tausendeinhundert", 2024: "zweitausendvierundzwanzig",
    9999: "neuntausendneunhundertneunundneunzig",
}  # fmt: skip
ENGLISH_NUMBERS = {
    0: "zero", 13: "thirteen", 21: "twenty-one", 40: "forty", 100: "one hundred",
    101: "one hundred one", 321: "three hundred twenty-one", 1000: "one thousand",
    2024: "two thousand twenty-four", 9999: "nine thousand nine hundred ninety-nine",
}  # fmt: skip


@pytest.mark.parametrize("n, expected", sorted(GERMAN_NUMBERS.items()))
def test_german_number_words(n, expected):
    assert german_number(n) == expected


@pytest.mark.parametrize("n, expected", sorted(ENGLISH_NUMBERS.items()))
def test_english_number_words(n, expected):
    assert english_number(n) == expected


@pytest.mark.parametrize("n", [-1, 10000])
def test_numbers_out_of_range_raise(n):
    with pytest.raises(ValueError):
        german_number(n)
    with pytest.raises(ValueError):
        english_number(n)
    with pytest.raises(ValueError):
        german_ordinal(n)
    with pytest.raises(ValueError):
        english_ordinal(0)


ORDINALS = [
    (1, "first", "erste"), (2, "second", "zweite"), (3, "third", "dritte"),
    (4, "fourth", "vierte"), (5, "fifth", "fünfte"), (7, "seventh", "siebte"),
    (8, "eighth", "achte"), (9, "ninth", "neunte"), (12, "twelfth", "zwölfte"),
    (16, "sixteenth", "sechzehnte"), (20, "twentieth", "zwanzigste"),
    (21, "twenty-first", "einundzwanzigste"), (30, "thirtieth", "dreißigste"),
    (31, "thirty-first", "einunddreißigste"), (100, "one hundredth", "hundertste"),
]  # fmt: skip


@pytest.mark.parametrize("n, english, german", ORDINALS)
def test_ordinals(n, english, german):
    assert english_ordinal(n) == english
    assert german_ordinal(n) == german


@pytest.mark.parametrize(
    "day, month, english, german",
    [
        (4, 5, "on the fourth of May", "am vierten Mai"),
        (1, 3, "on the first of March", "am ersten März"),
        (3, 7, "on the third of July", "am dritten Juli"),
        (7, 6, "on the seventh of June", "am siebten Juni"),
        (8, 8, "on the eighth of August", "am achten August"),
        (21, 12, "on the twenty-first of December", "am einundzwanzigsten Dezember"),
    ],
)
def test_dates_take_the_dative_after_am(day, month, english, german):
    assert date_phrase(day, month) == (english, german)


def test_dates_in_the_nominative_and_invalid_dates():
    assert date_phrase(4, 5, "nominative") == ("the fourth of May", "der vierte Mai")
    for day, month in [(31, 4), (30, 2), (0, 1), (1, 13)]:
        with pytest.raises(ValueError):
            date_phrase(day, month)


@pytest.mark.parametrize(
    "hour, minute, english, german",
    [
        (3, 30, "at half past three", "um halb vier"),
        (12, 30, "at half past twelve", "um halb eins"),
        (5, 15, "at quarter past five", "um Viertel nach fünf"),
        (5, 45, "at quarter to six", "um Viertel vor sechs"),
        (7, 0, "at seven o'clock", "um sieben Uhr"),
        (1, 0, "at one o'clock", "um ein Uhr"),
        (4, 10, "at ten past four", "um zehn nach vier"),
        (7, 40, "at twenty to eight", "um zwanzig vor acht"),
        (12, 55, "at five to one", "um fünf vor eins"),
    ],
)
def test_clock_times(hour, minute, english, german):
    assert clock_phrase(hour, minute) == (english, german)


def test_unsupported_clock_times_raise():
    for hour, minute in [(0, 0), (13, 0), (3, 25), (3, 7)]:
        with pytest.raises(ValueError):
            clock_phrase(hour, minute)


# ------------------------------------------------------------ word order


def test_perfect_splits_the_verb_and_fronting_inverts_the_subject():
    bought = next(verb for verb in lexicon.PERFECT_VERBS if verb[0] == "bought")
    apple = next(noun for noun in lexicon.THINGS if noun.en == "apple")
    clause = sentences._perfect_clause(
        ("I", "ich", 0), bought, [(21, apple)], [("yesterday", "gestern")]
    )
    assert sentences._realize(clause, "main") == (
        "I bought twenty-one apples yesterday",
        "ich habe gestern einundzwanzig Äpfel gekauft",
    )
    assert sentences._realize(clause, "front") == (
        "yesterday I bought twenty-one apples",
        "gestern habe ich einundzwanzig Äpfel gekauft",
    )
    assert sentences._realize(clause, "sub")[1] == (
        "ich gestern einundzwanzig Äpfel gekauft habe"
    )
    one = sentences._perfect_clause(("you", "du", 1), bought, [(1, apple)], [])
    assert sentences._realize(one, "question") == (
        "did you buy one apple",
        "hast du einen Apfel gekauft",
    )


def test_separable_verbs_split_in_main_clauses_and_fuse_in_subordinate_ones():
    clause = sentences._Clause(
        "she", "arrives", "does", "arrive", "", "sie", "kommt", "", "an",
        fused=True, times=[clock_phrase(7)],
    )  # fmt: skip
    assert sentences._realize(clause, "main") == (
        "she arrives at seven o'clock",
        "sie kommt um sieben Uhr an",
    )
    assert sentences._realize(clause, "question") == (
        "does she arrive at seven o'clock",
        "kommt sie um sieben Uhr an",
    )
    assert sentences._realize(clause, "sub") == (
        "she arrives at seven o'clock",
        "sie um sieben Uhr ankommt",
    )


def test_counted_nouns_agree_in_gender_number_and_case():
    noun = {noun.en: noun for noun in lexicon.THINGS + lexicon.ANIMALS + lexicon.PEOPLE}
    assert sentences._count(1, noun["dog"], "accusative") == ("one dog", "einen Hund")
    assert sentences._count(1, noun["cat"], "dative") == ("one cat", "einer Katze")
    assert sentences._count(1, noun["book"], "nominative") == ("one book", "ein Buch")
    assert sentences._count(3, noun["friend"], "dative") == (
        "three friends",
        "drei Freunden",
    )
    assert sentences._count(3, noun["car"], "dative") == ("three cars", "drei Autos")
    assert sentences._count(21, noun["apple"], "accusative") == (
        "twenty-one apples",
        "einundzwanzig Äpfel",
    )


def test_corpus_sentences_show_verb_second_and_verb_final_order(corpus):
    pairs = [pair for split in corpus.values() for pair in split]
    fronted = [de for en, de in pairs if en.startswith("Yesterday ")]
    subordinate = [de for _, de in pairs if ", dass " in de or ", weil " in de]
    assert len(fronted) > 50 and len(subordinate) > 1000
    assert all(de.startswith("Gestern ") for de in fronted)
    assert all(de.split()[1] in FINITE_VERBS for de in fronted)
    # The finite verb ends the clause: a lower-case word, never a noun.
    assert all(de[:-1].split()[-1].islower() for de in subordinate)


# ---------------------------------------------------------------- corpus


def test_sizes_and_name(corpus):
    assert BUILTIN_CORPUS_NAME == "builtin-en-de"
    assert {split: len(pairs) for split, pairs in corpus.items()} == {
        "train": 20000,
        "valid": 500,
        "test": 500,
    }
    small = generate_builtin_corpus(seed=5, train_size=40, valid_size=7, test_size=0)
    assert [len(small[split]) for split in ("train", "valid", "test")] == [40, 7, 0]
    with pytest.raises(ValueError):
        generate_builtin_corpus(train_size=-1)


def test_sentences_are_clean_capitalized_and_punctuated(corpus):
    for pairs in corpus.values():
        for en, de in pairs:
            for sentence in (en, de):
                assert sentence == sentence.strip() and sentence
                assert not set(sentence) & {"\t", "\n", "\r"}
                assert "  " not in sentence
                assert sentence[0].isupper() and sentence[-1] in ".?"
                assert 4 <= len(sentence.split()) <= 20
            assert en[-1] == de[-1]


def test_generation_is_deterministic_in_the_seed():
    sizes = {"train_size": 2000, "valid_size": 50, "test_size": 50}
    first = generate_builtin_corpus(seed=3, **sizes)
    assert first == generate_builtin_corpus(seed=3, **sizes)
    assert first != generate_builtin_corpus(seed=4, **sizes)


def test_splits_are_disjoint(corpus):
    train = [en for en, _ in corpus["train"]]
    valid = {en for en, _ in corpus["valid"]}
    test = {en for en, _ in corpus["test"]}
    assert len(set(train)) == len(train)
    assert len(valid) == 500 and len(test) == 500
    assert not valid & test
    assert not (valid | test) & set(train)


def test_held_out_words_all_occur_in_train(corpus):
    for side in (0, 1):
        train_words = words(pair[side] for pair in corpus["train"])
        for split in ("valid", "test"):
            assert words(pair[side] for pair in corpus[split]) <= train_words


def test_held_out_sentences_combine_known_words_in_new_ways(corpus):
    def bigrams(sentence):
        tokens = WORD.findall(sentence)
        return set(zip(tokens, tokens[1:], strict=False))

    train = set().union(*(bigrams(de) for _, de in corpus["train"]))
    novel = [de for _, de in corpus["test"] if not bigrams(de) <= train]
    assert len(novel) >= 25


def test_the_generator_uses_only_the_standard_library():
    folder = os.path.dirname(builtin_corpus.__file__)
    for module in ("numbers", "lexicon", "sentences", "corpus"):
        with open(os.path.join(folder, f"{module}.py"), encoding="utf-8") as file:
            tree = ast.parse(file.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            else:
                continue
            for name in names:
                inside = name.startswith("keras_transformer.data.builtin_corpus.")
                assert inside or name.split(".")[0] in sys.stdlib_module_names, name


def test_write_builtin_corpus_round_trips(tmp_path):
    sizes = {"train_size": 300, "valid_size": 20, "test_size": 10}
    directory = tmp_path / "new" / "corpus"
    paths = write_builtin_corpus(directory, seed=2, **sizes)
    expected = generate_builtin_corpus(seed=2, **sizes)
    assert sorted(paths) == ["test", "train", "valid"]
    for split, (en_path, de_path) in paths.items():
        assert (en_path, de_path) == (
            os.path.join(directory, f"{split}.en"),
            os.path.join(directory, f"{split}.de"),
        )
        with open(en_path, encoding="utf-8", newline="") as file:
            en_text = file.read()
        with open(de_path, encoding="utf-8", newline="") as file:
            de_text = file.read()
        assert en_text.endswith("\n") and de_text.endswith("\n")
        en_lines, de_lines = en_text.splitlines(), de_text.splitlines()
        assert len(en_lines) == len(de_lines) == len(expected[split])
        assert list(zip(en_lines, de_lines, strict=True)) == expected[split]
    assert sorted(os.listdir(directory)) == sorted(
        f"{split}.{lang}" for split in paths for lang in ("en", "de")
    )
    before = (directory / "train.de").read_bytes()
    write_builtin_corpus(directory, seed=2, **sizes)
    assert (directory / "train.de").read_bytes() == before
