"""Sentence pairs: clauses in pieces that each German word order arranges
(main, fronted, question, subordinate), and the random draws of one pair."""

from dataclasses import dataclass, field, replace

from keras_transformer.data.builtin_corpus.lexicon import (
    COMING_DAYS,
    DATED_EVENTS,
    DEFINITE,
    EURO,
    EVENTS,
    HABEN,
    INDEFINITE,
    MAX_WORDS,
    NOUNS,
    OPENERS,
    PAST_DAYS,
    PERFECT_VERBS,
    PLACES,
    SEIN,
    SEPARABLE,
    SUBJECTS,
    THINGS,
    VEHICLES,
    WEEKDAYS,
)
from keras_transformer.data.builtin_corpus.numbers import (
    MINUTES,
    MONTH_DAYS,
    clock_phrase,
    date_phrase,
    english_number,
    german_number,
)


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
        return f"one {noun.en}", f"{INDEFINITE[case][noun.gender]} {noun.de}"
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
        en_subject, past, "did", base, en_objects, de_subject, HABEN[person],
        de_objects, participle, times=times, person=person,
    )  # fmt: skip


# === Random draws ===


class Numbers:
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
    nouns = [noun for kind in kinds.split() for noun in NOUNS[kind]]
    chosen = rng.sample(nouns, 2 if most == 2 and rng.random() < 0.2 else 1)
    return [(numbers.count(rng), noun) for noun in chosen]


def _single_noun(objects):
    """The noun of a lone counted object (for "how many" questions), else None."""
    return objects[0][1] if len(objects) == 1 else None


def _pick_date(rng):
    """A valid (day, month)."""
    month = rng.randint(1, 12)
    return rng.randint(1, MONTH_DAYS[month - 1]), month


def _pick_day(rng, days):
    """A day adverbial: a date, a weekday or one of `days`."""
    r = rng.random()
    if r < 0.25:
        return date_phrase(*_pick_date(rng))
    return rng.choice(WEEKDAYS) if r < 0.45 else rng.choice(days)


def _pick_clock(rng):
    """A clock-time adverbial."""
    return clock_phrase(rng.randint(1, 12), rng.choice(MINUTES))


def _pick_past_times(rng, clock_rate):
    """A past day (mostly) and a clock time (sometimes, not after "last ...")."""
    times = [_pick_day(rng, PAST_DAYS)] if rng.random() < 0.8 else []
    if rng.random() < clock_rate and not (times and times[0][0].startswith("last")):
        times.append(_pick_clock(rng))
    return times


def _perfect(rng, numbers):
    """A clause like "I bought three apples yesterday": (clause, noun or None).

    Every clause builder returns the noun of a lone counted object, for "how
    many" questions, or None."""
    subject, verb = rng.choice(SUBJECTS), rng.choice(PERFECT_VERBS)
    times = _pick_past_times(rng, clock_rate=0.2)
    objects = _pick_objects(rng, verb[3], numbers)
    return _perfect_clause(subject, verb, objects, times), _single_noun(objects)


def _went(rng, numbers):
    """A clause like "We went to the zoo with three friends" (sein, dative)."""
    en_subject, de_subject, person = rng.choice(SUBJECTS)
    (n, noun), *_ = _pick_objects(rng, "company", numbers, most=1)
    en_company, de_company = _count(n, noun, "dative")
    en_place, de_place = rng.choice(PLACES)
    times = _pick_past_times(rng, clock_rate=0.25)
    return _Clause(
        en_subject, "went", "did", "go", f"to {en_place} with {en_company}",
        de_subject, SEIN[person], f"mit {de_company} {de_place}", "gegangen",
        times=times, person=person,
    ), None  # fmt: skip


def _have(rng, numbers):
    """A clause like "Anna has one dog and three cats" (accusative)."""
    en_subject, de_subject, person = rng.choice(SUBJECTS)
    objects = _pick_objects(rng, "thing animal kin", numbers)
    phrases = [_count(n, noun, "accusative") for n, noun in objects]
    return _Clause(
        en_subject, "has" if person == 2 else "have", "does" if person == 2 else "do",
        "have", " and ".join(en for en, _ in phrases), de_subject, HABEN[person],
        " und ".join(de for _, de in phrases), person=person,
    ), _single_noun(objects)  # fmt: skip


def _separable(rng, numbers):
    """A clause like "The train leaves at half past three" (separable verb)."""
    r = rng.random()
    if r < 0.5:
        en_subject, de_subject, person = rng.choice(SUBJECTS)
        verb = rng.choice(list(SEPARABLE))
    else:
        en_subject, de_subject = rng.choice(VEHICLES if r < 0.8 else EVENTS)
        person, verb = 2, rng.choice(("arrive", "leave") if r < 0.8 else ("start",))
    third, particle, stems = SEPARABLE[verb]
    times = [_pick_day(rng, COMING_DAYS)] if rng.random() < 0.4 else []
    return _Clause(
        en_subject, third if person == 2 else verb, "does" if person == 2 else "do",
        verb, "", de_subject, stems[person], "", particle, fused=True,
        times=times + [_pick_clock(rng)], person=person,
    ), None  # fmt: skip


def _dated(rng, numbers):
    """A clause like "My birthday is on the fourth of May"."""
    en_subject, de_subject = rng.choice(DATED_EVENTS)
    times = [date_phrase(*_pick_date(rng))]
    return _Clause(
        en_subject, "is", None, "", "", de_subject, "ist", "", times=times,
        frontable=False,
    ), None  # fmt: skip


def _price(rng, numbers):
    """A clause like "The book costs twenty euros" (nominative subject)."""
    noun, r = rng.choice(THINGS), rng.random()
    if r < 0.4:
        plural, en_subject = False, f"the {noun.en}"
        de_subject = f"{DEFINITE[noun.gender]} {noun.de}"
    elif r < 0.6:
        plural, en_subject = True, f"the {noun.en_plural}"
        de_subject = f"die {noun.de_plural}"
    else:
        n = numbers.count(rng)
        plural, (en_subject, de_subject) = n > 1, _count(n, noun, "nominative")
    en_price, de_price = _count(numbers.count(rng), EURO, "accusative")
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


def random_pair(rng, numbers):
    """One random (English, German) sentence pair of at most 20 words each."""
    while True:
        en, de = _draw_pair(rng, numbers)
        if max(en.count(" "), de.count(" ")) < MAX_WORDS:
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
            en_opener, de_opener = rng.choice(OPENERS)
            en, de = f"{en_opener} {en}", f"{de_opener} {de}"
        else:
            en, de = _realize(clause, order)
    return _capitalize(en) + mark, _capitalize(de) + mark
