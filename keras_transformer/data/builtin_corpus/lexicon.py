"""The corpus's words: nouns with their forms, subjects, verb tables, times
and places, each English entry beside its German one."""

import re
from typing import NamedTuple


class Noun(NamedTuple):
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
    """Parses "en en_plural gender de de_plural; ..." into Noun tuples."""
    return [Noun(*entry.split()) for entry in table.split(";")]


THINGS = _nouns(
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
ANIMALS = _nouns(
    "cat cats f Katze Katzen; dog dogs m Hund Hunde; horse horses n Pferd "
    "Pferde; cow cows f Kuh Kühe; bird birds m Vogel Vögel; mouse mice f Maus "
    "Mäuse; fish fish m Fisch Fische; sheep sheep n Schaf Schafe; chicken "
    "chickens n Huhn Hühner"
)
PEOPLE = _nouns(
    "child children n Kind Kinder; friend friends m Freund Freunde; teacher "
    "teachers m Lehrer Lehrer; pupil pupils m Schüler Schüler; guest guests m "
    "Gast Gäste; doctor doctors m Arzt Ärzte"
)
NOUNS = {"thing": THINGS, "animal": ANIMALS, "person": PEOPLE}
NOUNS["kin"] = PEOPLE[:2]  # children and friends: what one "has"
NOUNS["company"] = PEOPLE + ANIMALS[1:3]  # people, dogs, horses: go out with
EURO = Noun("euro", "euros", "m", "Euro", "Euro")
DEFINITE = {"m": "der", "f": "die", "n": "das"}
INDEFINITE = {
    "nominative": {"m": "ein", "f": "eine", "n": "ein"},
    "accusative": {"m": "einen", "f": "eine", "n": "ein"},
    "dative": {"m": "einem", "f": "einer", "n": "einem"},
}

# Subjects: (English, German, person). Persons index verb tables:
# 0 ich, 1 du, 2 er/sie/es, 3 wir, 4 sie (they).
SUBJECTS = [
    ("I", "ich", 0), ("you", "du", 1), ("he", "er", 2), ("she", "sie", 2),
    ("we", "wir", 3), ("they", "sie", 4), ("Anna", "Anna", 2), ("Tom", "Tom", 2),
    ("my brother", "mein Bruder", 2), ("my mother", "meine Mutter", 2),
    ("my parents", "meine Eltern", 4),
]  # fmt: skip
HABEN = ("habe", "hast", "hat", "haben", "haben")
SEIN = ("bin", "bist", "ist", "sind", "sind")

# Perfect with haben: (English past, English base, German participle, objects).
PERFECT_VERBS = [
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
SEPARABLE = {
    "arrive": ("arrives", "an", ("komme", "kommst", "kommt", "kommen", "kommen")),
    "leave": ("leaves", "ab", ("fahre", "fährst", "fährt", "fahren", "fahren")),
    "get up": ("gets up", "auf", ("stehe", "stehst", "steht", "stehen", "stehen")),
    "start": ("starts", "an", ("fange", "fängst", "fängt", "fangen", "fangen")),
}
VEHICLES = [
    ("the train", "der Zug"), ("the bus", "der Bus"),
    ("the ship", "das Schiff"), ("the tram", "die Straßenbahn"),
]  # fmt: skip
EVENTS = [
    ("the film", "der Film"), ("the concert", "das Konzert"),
    ("the party", "die Party"), ("the exam", "die Prüfung"),
    ("the meeting", "die Besprechung"), ("the game", "das Spiel"),
]  # fmt: skip
DATED_EVENTS = EVENTS[1:5] + [
    ("my birthday", "mein Geburtstag"), ("his birthday", "sein Geburtstag"),
    ("her birthday", "ihr Geburtstag"), ("our wedding", "unsere Hochzeit"),
]  # fmt: skip
PLACES = [
    ("the park", "in den Park"), ("the zoo", "in den Zoo"),
    ("the cinema", "ins Kino"), ("the museum", "ins Museum"),
    ("the station", "zum Bahnhof"), ("the market", "auf den Markt"),
    ("the lake", "an den See"), ("the beach", "an den Strand"),
]  # fmt: skip
WEEKDAYS = [
    (f"on {en}", f"am {de}")
    for en, de in zip(
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
        "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
        strict=True,
    )
]
PAST_DAYS = [
    ("yesterday", "gestern"), ("last week", "letzte Woche"),
    ("last month", "letzten Monat"), ("last year", "letztes Jahr"),
    ("this morning", "heute Morgen"),
]  # fmt: skip
COMING_DAYS = [("today", "heute"), ("tomorrow", "morgen")]
OPENERS = [
    ("I know that", "Ich weiß, dass"), ("he says that", "Er sagt, dass"),
    ("we believe that", "Wir glauben, dass"), ("she thinks that", "Sie denkt, dass"),
    ("I am tired because", "Ich bin müde, weil"),
    ("we are happy because", "Wir sind froh, weil"),
    ("he is surprised because", "Er ist überrascht, weil"),
    ("they are waiting because", "Sie warten, weil"),
]  # fmt: skip
WORD = re.compile(r"[^\s.,?]+")
MAX_WORDS = 20
