"""The built-in English→German corpus, generated offline in about a second.

It is the package's default corpus: small enough that a 2-layer Transformer
learns it in minutes on a CPU, yet real translation whose phenomena make
attention do real work rather than copy words in order:

* Numbers written out in words (0-9999). German compounds a number into one
  word and puts units before tens: "three hundred twenty-one" →
  "dreihunderteinundzwanzig", so the decoder must look ahead in the source.
  Convention: a leading one is dropped (100 "hundert", 101 "hunderteins",
  1000 "tausend", 1024 "tausendvierundzwanzig") but written inside a number
  (1100 "tausendeinhundert"). Alone, 1 is "eins"; before a noun it is the
  article "ein/eine/einen/einem/einer" agreeing with gender and case; at a
  clock time it is "ein Uhr".
* Dates with ordinals: "on the fourth of May" → "am vierten Mai" (dative),
  "Today is the fourth of May." → "Heute ist der vierte Mai." (nominative).
* Clock times: "at half past three" → "um halb vier" (halb names the NEXT
  hour), "at quarter to six" → "um Viertel vor sechs", "at one o'clock" →
  "um ein Uhr".
* Word order: the perfect splits the verb ("I bought twenty-one apples
  yesterday." → "Ich habe gestern einundzwanzig Äpfel gekauft."), a fronted
  adverb moves the verb before the subject ("Gestern habe ich ..."), questions
  put it first, separable verbs leave their particle at the end ("Der Zug fährt
  um halb vier ab."), and dass/weil clauses move the finite verb to the end
  ("weil sie um sieben Uhr ankommt").
* Agreement: verb conjugation by person (with stem changes: "du fährst"),
  haben vs sein in the perfect, singular vs plural nouns (with umlaut plurals
  "Äpfel", "Bücher"), the dative plural -n after "mit" ("mit drei Freunden"),
  der/die/das.

Grammar is kept correct by restriction rather than breadth: English "you" is
always "du" (never ihr/Sie, which English cannot tell apart); counts 101, 201,
..., 1001, ... (ending in "eins") never stand before a noun, where usage is
unsettled; nouns with weak or mixed declension are left out; every noun, verb
and adverb comes with its forms spelled out in a table.

Held-out sentences (valid, test) never occur in train, and every word of them
occurs in train (when train is large enough, as it is by default), so BLEU
measures generalization rather than unknown words. A reserved set of 100
numbers in 21-999 never counts nouns or prices in train (it appears there only
in arithmetic), and held-out sentences favour them, so they test counts that
train never saw.
"""

import contextlib
import os
import random
import re
import tempfile
from dataclasses import dataclass, field, replace
from typing import NamedTuple

BUILTIN_CORPUS_NAME = "builtin-en-de"
SPLITS = ("train", "valid", "test")

# ---------------------------------------------------------------- numbers

_EN_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve "
    "thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth"}
_EN_ORDINALS |= {"eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
_DE_ONES = (
    "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf "
    "dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn"
).split()
_DE_TENS = "_ _ zwanzig dreißig vierzig fünfzig sechzig siebzig achtzig neunzig"
_DE_TENS = _DE_TENS.split()
_DE_ORDINAL_STEMS = {1: "erst", 3: "dritt", 7: "siebt", 8: "acht"}


def _check_range(n, lowest=0):
    """Raises ValueError outside lowest..9999."""
    if not lowest <= n <= 9999:
        raise ValueError(f"numbers are supported from {lowest} to 9999, got {n}")


def english_number(n):
    """English words for 0 <= n <= 9999, US style: 321 -> "three hundred
    twenty-one", 2024 -> "two thousand twenty-four"."""
    _check_range(n)
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_ONES[unit]}" if unit else "")
    big, rest = divmod(n, 1000) if n >= 1000 else divmod(n, 100)
    words = f"{_EN_ONES[big]} {'thousand' if n >= 1000 else 'hundred'}"
    return f"{words} {english_number(rest)}" if rest else words


def german_number(n):
    """German number word for 0 <= n <= 9999, as one compound written alone
    (counting, arithmetic): 1 -> "eins", 21 -> "einundzwanzig", 101 ->
    "hunderteins", 321 -> "dreihunderteinundzwanzig", 1000 -> "tausend",
    1100 -> "tausendeinhundert", 2024 -> "zweitausendvierundzwanzig"."""
    _check_range(n)
    if n < 20:
        return _DE_ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        if not unit:
            return _DE_TENS[tens]
        return ("ein" if unit == 1 else _DE_ONES[unit]) + "und" + _DE_TENS[tens]
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        words = ("" if hundreds == 1 else _DE_ONES[hundreds]) + "hundert"
    else:
        thousands, rest = divmod(n, 1000)
        words = ("" if thousands == 1 else _DE_ONES[thousands]) + "tausend"
        if 100 <= rest < 200:
            words += "ein"  # tausendeinhundert, not tausendhundert
    return words + (german_number(rest) if rest else "")


def english_ordinal(n):
    """English ordinal words for 1 <= n <= 9999: 1 -> "first", 21 ->
    "twenty-first", 30 -> "thirtieth"."""
    _check_range(n, lowest=1)
    head, last = re.match(r"(.*[ -])?(\w+)$", english_number(n)).groups()
    if last in _EN_ORDINALS:
        last = _EN_ORDINALS[last]
    else:
        last = last[:-1] + "ieth" if last.endswith("y") else last + "th"
    return (head or "") + last


def german_ordinal(n):
    """German ordinal for 1 <= n <= 9999 with the weak ending -e, as after
    "der": 1 -> "erste", 3 -> "dritte", 7 -> "siebte", 20 -> "zwanzigste".
    Add "n" for the dative after "am": "vierten"."""
    _check_range(n, lowest=1)
    tail = n % 100
    if 0 < tail < 20:
        head = german_number(n - tail) if n >= 100 else ""
        return head + _DE_ORDINAL_STEMS.get(tail, _DE_ONES[tail] + "t") + "e"
    return german_number(n) + "ste"


_MONTHS_EN = (
    "January February March April May June July August September October "
    "November December"
).split()
_MONTHS_DE = (
    "Januar Februar März April Mai Juni Juli August September Oktober November Dezember"
).split()
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MINUTES = (0, 5, 10, 15, 20, 30, 40, 45, 50, 55)


def date_phrase(day, month, case="dative"):
    """(English, German) for a date, month 1-12. Dative: ("on the fourth of
    May", "am vierten Mai"); nominative: ("the fourth of May", "der vierte
    Mai")."""
    if not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month - 1]:
        raise ValueError(f"no such date: day {day} of month {month}")
    en = f"the {english_ordinal(day)} of {_MONTHS_EN[month - 1]}"
    if case == "dative":
        return f"on {en}", f"am {german_ordinal(day)}n {_MONTHS_DE[month - 1]}"
    return en, f"der {german_ordinal(day)} {_MONTHS_DE[month - 1]}"


def clock_phrase(hour, minute=0):
    """(English, German) for a clock time, hour 1-12, minute one of 0, 5, 10,
    15, 20, 30, 40, 45, 50, 55: (3, 30) -> ("at half past three", "um halb
    vier"), (5, 15) -> ("at quarter past five", "um Viertel nach fünf"),
    (7, 0) -> ("at seven o'clock", "um sieben Uhr")."""
    if not 1 <= hour <= 12 or minute not in _MINUTES:
        raise ValueError(f"unsupported clock time {hour}:{minute:02d}")
    following = hour % 12 + 1
    en_hour, en_next = english_number(hour), english_number(following)
    de_hour, de_next = german_number(hour), german_number(following)
    if minute == 0:
        return f"at {en_hour} o'clock", f"um {'ein' if hour == 1 else de_hour} Uhr"
    if minute == 30:
        return f"at half past {en_hour}", f"um halb {de_next}"
    if minute == 15:
        return f"at quarter past {en_hour}", f"um Viertel nach {de_hour}"
    if minute == 45:
        return f"at quarter to {en_next}", f"um Viertel vor {de_next}"
    if minute < 30:
        return (
            f"at {english_number(minute)} past {en_hour}",
            f"um {german_number(minute)} nach {de_hour}",
        )
    return (
        f"at {english_number(60 - minute)} to {en_next}",
        f"um {german_number(60 - minute)} vor {de_next}",
    )


# ------------------------------------------------------------- vocabulary


class _Noun(NamedTuple):
    """A countable noun with its English and German singular and plural."""

    en: str
    en_plural: str
    gender: str  # "m", "f" or "n"
    de: str
    de_plural: str

    @property
    def de_dative_plural(self):
        """Dative plural: -n added unless the plural ends in -n or -s."""
        plural = self.de_plural
        return plural if plural.endswith(("n", "s")) else plural + "n"


def _nouns(table):
    """Parses "en en_plural gender de de_plural; ..." into _Noun tuples."""
    return [_Noun(*entry.split()) for entry in table.split(";")]


_THINGS = _nouns(
    "apple apples m Apfel Äpfel; book books n Buch Bücher; bottle bottles f "
    "Flasche Flaschen; chair chairs m Stuhl Stühle; table tables m Tisch Tische; "
    "car cars n Auto Autos; house houses n Haus Häuser; egg eggs n Ei Eier; "
    "flower flowers f Blume Blumen; letter letters m Brief Briefe; glass glasses "
    "n Glas Gläser; key keys m Schlüssel Schlüssel; cup cups f Tasse Tassen; "
    "picture pictures n Bild Bilder; shirt shirts n Hemd Hemden; bag bags f "
    "Tasche Taschen; newspaper newspapers f Zeitung Zeitungen; ticket tickets f "
    "Fahrkarte Fahrkarten; banana bananas f Banane Bananen; lamp lamps f Lampe "
    "Lampen; bicycle bicycles n Fahrrad Fahrräder; knife knives n Messer Messer; "
    "spoon spoons m Löffel Löffel; pencil pencils m Bleistift Bleistifte"
)
_ANIMALS = _nouns(
    "cat cats f Katze Katzen; dog dogs m Hund Hunde; horse horses n Pferd "
    "Pferde; cow cows f Kuh Kühe; bird birds m Vogel Vögel; mouse mice f Maus "
    "Mäuse; fish fish m Fisch Fische; sheep sheep n Schaf Schafe; chicken "
    "chickens n Huhn Hühner"
)
_PEOPLE = _nouns(
    "child children n Kind Kinder; friend friends m Freund Freunde; teacher "
    "teachers m Lehrer Lehrer; pupil pupils m Schüler Schüler; guest guests m "
    "Gast Gäste; doctor doctors m Arzt Ärzte"
)
_NOUNS = {"thing": _THINGS, "animal": _ANIMALS, "person": _PEOPLE}
_NOUNS["kin"] = _PEOPLE[:2]  # children and friends: what one "has"
_NOUNS["company"] = _PEOPLE + _ANIMALS[1:3]  # people, dogs, horses: go out with
_EURO = _Noun("euro", "euros", "m", "Euro", "Euro")
_DEFINITE = {"m": "der", "f": "die", "n": "das"}
_INDEFINITE = {
    "nominative": {"m": "ein", "f": "eine", "n": "ein"},
    "accusative": {"m": "einen", "f": "eine", "n": "ein"},
    "dative": {"m": "einem", "f": "einer", "n": "einem"},
}

# Subjects: (English, German, person). Persons index verb tables:
# 0 ich, 1 du, 2 er/sie/es, 3 wir, 4 sie (they).
_SUBJECTS = [
    ("I", "ich", 0), ("you", "du", 1), ("he", "er", 2), ("she", "sie", 2),
    ("we", "wir", 3), ("they", "sie", 4), ("Anna", "Anna", 2), ("Tom", "Tom", 2),
    ("my brother", "mein Bruder", 2), ("my mother", "meine Mutter", 2),
    ("my parents", "meine Eltern", 4),
]  # fmt: skip
_HABEN = ("habe", "hast", "hat", "haben", "haben")
_SEIN = ("bin", "bist", "ist", "sind", "sind")

# Perfect with haben: (English past, English base, German participle, objects).
_PERFECT_VERBS = [
    ("bought", "buy", "gekauft", "thing animal"),
    ("sold", "sell", "verkauft", "thing animal"),
    ("saw", "see", "gesehen", "thing animal person"),
    ("found", "find", "gefunden", "thing animal"),
    ("ordered", "order", "bestellt", "thing"),
    ("counted", "count", "gezählt", "thing animal person"),
    ("brought", "bring", "mitgebracht", "thing animal person"),
    ("photographed", "photograph", "fotografiert", "thing animal person"),
    ("washed", "wash", "gewaschen", "thing animal"),
    ("fed", "feed", "gefüttert", "animal"),
    ("met", "meet", "getroffen", "person"),
    ("visited", "visit", "besucht", "person"),
]
# Separable verbs: English base -> (third person, particle, German stems by person).
_SEPARABLE = {
    "arrive": ("arrives", "an", ("komme", "kommst", "kommt", "kommen", "kommen")),
    "leave": ("leaves", "ab", ("fahre", "fährst", "fährt", "fahren", "fahren")),
    "get up": ("gets up", "auf", ("stehe", "stehst", "steht", "stehen", "stehen")),
    "start": ("starts", "an", ("fange", "fängst", "fängt", "fangen", "fangen")),
}
_VEHICLES = [
    ("the train", "der Zug"), ("the bus", "der Bus"),
    ("the ship", "das Schiff"), ("the tram", "die Straßenbahn"),
]  # fmt: skip
_EVENTS = [
    ("the film", "der Film"), ("the concert", "das Konzert"),
    ("the party", "die Party"), ("the exam", "die Prüfung"),
    ("the meeting", "die Besprechung"), ("the game", "das Spiel"),
]  # fmt: skip
_DATED_EVENTS = _EVENTS[1:5] + [
    ("my birthday", "mein Geburtstag"), ("his birthday", "sein Geburtstag"),
    ("her birthday", "ihr Geburtstag"), ("our wedding", "unsere Hochzeit"),
]  # fmt: skip
_PLACES = [
    ("the park", "in den Park"), ("the zoo", "in den Zoo"),
    ("the cinema", "ins Kino"), ("the museum", "ins Museum"),
    ("the station", "zum Bahnhof"), ("the market", "auf den Markt"),
    ("the lake", "an den See"), ("the beach", "an den Strand"),
]  # fmt: skip
_WEEKDAYS = [
    (f"on {en}", f"am {de}")
    for en, de in zip(
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
        "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
        strict=True,
    )
]
_PAST_DAYS = [
    ("yesterday", "gestern"), ("last week", "letzte Woche"),
    ("last month", "letzten Monat"), ("last year", "letztes Jahr"),
    ("this morning", "heute Morgen"),
]  # fmt: skip
_COMING_DAYS = [("today", "heute"), ("tomorrow", "morgen")]
_OPENERS = [
    ("I know that", "Ich weiß, dass"), ("he says that", "Er sagt, dass"),
    ("we believe that", "Wir glauben, dass"), ("she thinks that", "Sie denkt, dass"),
    ("I am tired because", "Ich bin müde, weil"),
    ("we are happy because", "Wir sind froh, weil"),
    ("he is surprised because", "Er ist überrascht, weil"),
    ("they are waiting because", "Sie warten, weil"),
]  # fmt: skip
_WORD = re.compile(r"[^\s.,?]+")
_MAX_WORDS = 20

# ---------------------------------------------------------------- clauses


@dataclass
class _Clause:
    """One clause, in pieces that each word order arranges differently.

    German: subject, finite verb, `times` (day before clock time), the rest of
    the middle field, and `de_end` (participle or separable particle, which
    fuses with the verb in a subordinate clause when `fused`). English: times
    go last, clock before day; questions use `en_aux` + `en_base` (or invert
    "is" when `en_aux` is None)."""

    en_subject: str
    en_verb: str
    en_aux: str | None
    en_base: str
    en_rest: str
    de_subject: str
    de_verb: str
    de_rest: str
    de_end: str = ""
    fused: bool = False
    times: list = field(default_factory=list)
    person: int = 2
    frontable: bool = True


def _join(*words):
    """Joins the non-empty words with spaces."""
    return " ".join(word for word in words if word)


def _realize(clause, order):
    """(English, German) for order "main", "front", "question" or "sub"
    (subordinate, without conjunction). No capitals or punctuation added."""
    c = clause
    times = c.times[1:] if order == "front" else c.times
    en_times = [en for en, _ in reversed(times)]
    de_times = [de for _, de in times]
    if order == "question":
        if c.en_aux is None:
            en = _join(c.en_verb, c.en_subject, c.en_rest, *en_times)
        else:
            en = _join(c.en_aux, c.en_subject, c.en_base, c.en_rest, *en_times)
        return en, _join(c.de_verb, c.de_subject, *de_times, c.de_rest, c.de_end)
    en = _join(c.en_subject, c.en_verb, c.en_rest, *en_times)
    if order == "main":
        return en, _join(c.de_subject, c.de_verb, *de_times, c.de_rest, c.de_end)
    if order == "front":
        front_en, front_de = c.times[0]
        middle = _join(c.de_verb, c.de_subject, *de_times, c.de_rest, c.de_end)
        return _join(front_en, en), _join(front_de, middle)
    final = c.de_end + c.de_verb if c.fused else _join(c.de_end, c.de_verb)
    return en, _join(c.de_subject, *de_times, c.de_rest, final)


def _count(n, noun, case):
    """A counted noun phrase: (3, apple) -> ("three apples", "drei Äpfel")."""
    if n == 1:
        return f"one {noun.en}", f"{_INDEFINITE[case][noun.gender]} {noun.de}"
    plural = noun.de_dative_plural if case == "dative" else noun.de_plural
    return f"{english_number(n)} {noun.en_plural}", f"{german_number(n)} {plural}"


def _perfect_clause(subject, verb, objects, times):
    """`subject` (en, de, person) did `verb` to `objects` [(n, noun), ...]."""
    en_subject, de_subject, person = subject
    past, base, participle, _ = verb
    phrases = [_count(n, noun, "accusative") for n, noun in objects]
    en_objects = " and ".join(en for en, _ in phrases)
    de_objects = " und ".join(de for _, de in phrases)
    return _Clause(
        en_subject, past, "did", base, en_objects, de_subject, _HABEN[person],
        de_objects, participle, times=times, person=person,
    )  # fmt: skip


# ------------------------------------------------------------ random draws


class _Numbers:
    """Draws the numbers of one split. A reserved set of compound numbers
    never counts nouns or prices in train, where arithmetic favours them (so
    their words are known); held-out splits favour them as counts."""

    def __init__(self, reserved, train):
        self.reserved, self.train = reserved, train
        self.excluded = frozenset(reserved) if train else frozenset()

    def count(self, rng):
        """A count for nouns or prices: small numbers most often, up to 9999."""
        if not self.train and rng.random() < 0.25:
            return rng.choice(self.reserved)
        while True:
            r = rng.random()
            if r < 0.06:
                n = 1
            elif r < 0.40:
                n = rng.randint(2, 20)
            elif r < 0.70:
                n = rng.randint(21, 99)
            elif r < 0.93:
                n = rng.randint(100, 999)
            else:
                n = rng.randint(1000, 9999)
            # "hunderteins Äpfel"/"hundertein Äpfel": usage unsettled, left out.
            if (n < 100 or n % 100 != 1) and n not in self.excluded:
                return n

    def operand(self, rng):
        """An operand of arithmetic, 0-999."""
        if self.train and rng.random() < 0.3:
            return rng.choice(self.reserved)
        r = rng.random()
        return (
            rng.randint(0, 20) if r < 0.5 else rng.randint(21, 99 if r < 0.8 else 999)
        )


def _pick_objects(rng, kinds, numbers, most=2):
    """One or (if most=2, sometimes) two counted nouns of the given kinds."""
    nouns = [noun for kind in kinds.split() for noun in _NOUNS[kind]]
    chosen = rng.sample(nouns, 2 if most == 2 and rng.random() < 0.2 else 1)
    return [(numbers.count(rng), noun) for noun in chosen]


def _single_noun(objects):
    """The noun of a lone counted object (for "how many" questions), else None."""
    return objects[0][1] if len(objects) == 1 else None


def _pick_date(rng):
    """A valid (day, month)."""
    month = rng.randint(1, 12)
    return rng.randint(1, _MONTH_DAYS[month - 1]), month


def _pick_day(rng, days):
    """A day adverbial: a date, a weekday or one of `days`."""
    r = rng.random()
    if r < 0.25:
        return date_phrase(*_pick_date(rng))
    return rng.choice(_WEEKDAYS) if r < 0.45 else rng.choice(days)


def _pick_clock(rng):
    """A clock-time adverbial."""
    return clock_phrase(rng.randint(1, 12), rng.choice(_MINUTES))


def _pick_past_times(rng, clock_rate):
    """A past day (mostly) and a clock time (sometimes, not after "last ...")."""
    times = [_pick_day(rng, _PAST_DAYS)] if rng.random() < 0.8 else []
    if rng.random() < clock_rate and not (times and times[0][0].startswith("last")):
        times.append(_pick_clock(rng))
    return times


def _perfect(rng, numbers):
    """A clause like "I bought three apples yesterday": (clause, noun or None).

    Every clause builder returns the noun of a lone counted object, for "how
    many" questions, or None."""
    subject, verb = rng.choice(_SUBJECTS), rng.choice(_PERFECT_VERBS)
    times = _pick_past_times(rng, clock_rate=0.2)
    objects = _pick_objects(rng, verb[3], numbers)
    return _perfect_clause(subject, verb, objects, times), _single_noun(objects)


def _went(rng, numbers):
    """A clause like "We went to the zoo with three friends" (sein, dative)."""
    en_subject, de_subject, person = rng.choice(_SUBJECTS)
    (n, noun), *_ = _pick_objects(rng, "company", numbers, most=1)
    en_company, de_company = _count(n, noun, "dative")
    en_place, de_place = rng.choice(_PLACES)
    times = _pick_past_times(rng, clock_rate=0.25)
    return _Clause(
        en_subject, "went", "did", "go", f"to {en_place} with {en_company}",
        de_subject, _SEIN[person], f"mit {de_company} {de_place}", "gegangen",
        times=times, person=person,
    ), None  # fmt: skip


def _have(rng, numbers):
    """A clause like "Anna has one dog and three cats" (accusative)."""
    en_subject, de_subject, person = rng.choice(_SUBJECTS)
    objects = _pick_objects(rng, "thing animal kin", numbers)
    phrases = [_count(n, noun, "accusative") for n, noun in objects]
    return _Clause(
        en_subject, "has" if person == 2 else "have", "does" if person == 2 else "do",
        "have", " and ".join(en for en, _ in phrases), de_subject, _HABEN[person],
        " und ".join(de for _, de in phrases), person=person,
    ), _single_noun(objects)  # fmt: skip


def _separable(rng, numbers):
    """A clause like "The train leaves at half past three" (separable verb)."""
    r = rng.random()
    if r < 0.5:
        en_subject, de_subject, person = rng.choice(_SUBJECTS)
        verb = rng.choice(list(_SEPARABLE))
    else:
        en_subject, de_subject = rng.choice(_VEHICLES if r < 0.8 else _EVENTS)
        person, verb = 2, rng.choice(("arrive", "leave") if r < 0.8 else ("start",))
    third, particle, stems = _SEPARABLE[verb]
    times = [_pick_day(rng, _COMING_DAYS)] if rng.random() < 0.4 else []
    return _Clause(
        en_subject, third if person == 2 else verb, "does" if person == 2 else "do",
        verb, "", de_subject, stems[person], "", particle, fused=True,
        times=times + [_pick_clock(rng)], person=person,
    ), None  # fmt: skip


def _dated(rng, numbers):
    """A clause like "My birthday is on the fourth of May"."""
    en_subject, de_subject = rng.choice(_DATED_EVENTS)
    times = [date_phrase(*_pick_date(rng))]
    return _Clause(
        en_subject, "is", None, "", "", de_subject, "ist", "", times=times,
        frontable=False,
    ), None  # fmt: skip


def _price(rng, numbers):
    """A clause like "The book costs twenty euros" (nominative subject)."""
    noun, r = rng.choice(_THINGS), rng.random()
    if r < 0.4:
        plural, en_subject = False, f"the {noun.en}"
        de_subject = f"{_DEFINITE[noun.gender]} {noun.de}"
    elif r < 0.6:
        plural, en_subject = True, f"the {noun.en_plural}"
        de_subject = f"die {noun.de_plural}"
    else:
        n = numbers.count(rng)
        plural, (en_subject, de_subject) = n > 1, _count(n, noun, "nominative")
    en_price, de_price = _count(numbers.count(rng), _EURO, "accusative")
    return _Clause(
        en_subject, "cost" if plural else "costs", "do" if plural else "does", "cost",
        en_price, de_subject, "kosten" if plural else "kostet", de_price,
        person=4 if plural else 2,
    ), None  # fmt: skip


def _arithmetic(rng, numbers):
    """ "Six times seven is forty-two." -> "Sechs mal sieben ist zweiundvierzig."."""
    a, b, op = numbers.operand(rng), numbers.operand(rng), rng.random()
    if op < 0.4:
        en_op, de_op, result = "plus", "plus", a + b
    elif op < 0.7:
        a, b = max(a, b), min(a, b)
        en_op, de_op, result = "minus", "minus", a - b
    else:
        a = rng.randint(2, 12)
        b = min(b, 9999 // a)
        en_op, de_op, result = "times", "mal", a * b
    en = f"{english_number(a)} {en_op} {english_number(b)}"
    de = f"{german_number(a)} {de_op} {german_number(b)}"
    if rng.random() < 0.25:
        return f"what is {en}", f"was ist {de}", "?"
    return f"{en} is {english_number(result)}", f"{de} ist {german_number(result)}", "."


def _today(rng):
    """ "Today is the fourth of May." -> "Heute ist der vierte Mai."."""
    en_date, de_date = date_phrase(*_pick_date(rng), case="nominative")
    en_day, de_day, en_verb, de_verb = rng.choice(
        [("today", "heute", "is", "ist"), ("tomorrow", "morgen", "is", "ist"),
         ("yesterday", "gestern", "was", "war")]
    )  # fmt: skip
    return f"{en_day} {en_verb} {en_date}", f"{de_day} {de_verb} {de_date}", "."


_CLAUSES = (_perfect, _went, _have, _separable, _dated, _price)
_KINDS = (*_CLAUSES, _arithmetic, _today)
_WEIGHTS = (26, 12, 10, 18, 6, 10, 14, 4)


def _capitalize(text):
    """Upper-cases the first letter only."""
    return text[:1].upper() + text[1:]


def _random_pair(rng, numbers):
    """One random (English, German) sentence pair of at most 20 words each."""
    while True:
        en, de = _draw_pair(rng, numbers)
        if max(en.count(" "), de.count(" ")) < _MAX_WORDS:
            return en, de


def _draw_pair(rng, numbers):
    """One pair of a random kind and word order, before the length limit."""
    (kind,) = rng.choices(_KINDS, _WEIGHTS)
    if kind is _arithmetic:
        en, de, mark = _arithmetic(rng, numbers)
    elif kind is _today:
        en, de, mark = _today(rng)
    else:
        clause, noun = kind(rng, numbers)
        orders = ["main"] * 4 + ["sub"] * 3
        if clause.frontable and clause.times and clause.times[0][1][:3] != "um ":
            orders += ["front"] * 2
        if clause.person != 0:  # "Did I buy ...?" is odd
            orders += ["question"] * 2 + ["how many"] * (noun is not None)
        order = rng.choice(orders)
        mark = "?" if order in ("question", "how many") else "."
        if order == "how many":
            en, de = _realize(replace(clause, en_rest="", de_rest=""), "question")
            en, de = (
                f"how many {noun.en_plural} {en}",
                f"wie viele {noun.de_plural} {de}",
            )
        elif order == "sub":
            en, de = _realize(clause, "sub")
            en_opener, de_opener = rng.choice(_OPENERS)
            en, de = f"{en_opener} {en}", f"{de_opener} {de}"
        else:
            en, de = _realize(clause, order)
    return _capitalize(en) + mark, _capitalize(de) + mark


# ------------------------------------------------------------------ corpus


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
    numbers = _Numbers(sorted(reserved), train=True)
    train, seen = [], set()
    while len(train) < train_size:
        en, de = _random_pair(rng, numbers)
        if en not in seen:
            seen.add(en)
            train.append((en, de))
    en_vocabulary = {w for en, _ in train for w in _WORD.findall(en)}
    de_vocabulary = {w for _, de in train for w in _WORD.findall(de)}
    held_out_numbers = _Numbers(numbers.reserved, train=False)
    needed, held_out = valid_size + test_size, []
    tries_left = 20 * needed + 1000
    while len(held_out) < needed:
        en, de = _random_pair(rng, held_out_numbers)
        tries_left -= 1
        if en in seen:
            continue
        covered = en_vocabulary.issuperset(_WORD.findall(en)) and (
            de_vocabulary.issuperset(_WORD.findall(de))
        )
        if covered or tries_left < 0:
            seen.add(en)
            held_out.append((en, de))
    return {
        "train": train,
        "valid": held_out[:valid_size],
        "test": held_out[valid_size:],
    }


def _write_lines(path, lines):
    """Writes lines to `path` atomically: a temporary file, then os.replace."""
    fd, temporary = tempfile.mkstemp(
        dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.writelines(line + "\n" for line in lines)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_builtin_corpus(directory, seed=0, **sizes):
    """Writes {split}.en and {split}.de for train, valid and test into
    `directory` (created if needed), UTF-8, one sentence per line; `sizes` are
    generate_builtin_corpus's train_size, valid_size, test_size. Returns
    {split: (en_path, de_path)}."""
    directory = os.fspath(directory)
    corpus = generate_builtin_corpus(seed=seed, **sizes)
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for split in SPLITS:
        en_path = os.path.join(directory, f"{split}.en")
        de_path = os.path.join(directory, f"{split}.de")
        _write_lines(en_path, [en for en, _ in corpus[split]])
        _write_lines(de_path, [de for _, de in corpus[split]])
        paths[split] = (en_path, de_path)
    return paths
