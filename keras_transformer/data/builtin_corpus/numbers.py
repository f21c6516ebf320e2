"""Numbers, ordinals, dates and clock times in English and German words."""

import re

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
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MINUTES = (0, 5, 10, 15, 20, 30, 40, 45, 50, 55)


def date_phrase(day, month, case="dative"):
    """(English, German) for a date, month 1-12. Dative: ("on the fourth of
    May", "am vierten Mai"); nominative: ("the fourth of May", "der vierte
    Mai")."""
    if not 1 <= month <= 12 or not 1 <= day <= MONTH_DAYS[month - 1]:
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
    if not 1 <= hour <= 12 or minute not in MINUTES:
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
