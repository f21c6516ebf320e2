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

The package: `numbers` (numbers, dates, clock times in words), `lexicon`
(the word tables), `sentences` (clauses, word orders, random draws) and
`corpus` (the splits) use only the standard library; `files` writes the
splits to disk.
"""

from keras_transformer.data.builtin_corpus.corpus import (
    BUILTIN_CORPUS_NAME,
    SPLITS,
    generate_builtin_corpus,
)
from keras_transformer.data.builtin_corpus.files import write_builtin_corpus
from keras_transformer.data.builtin_corpus.numbers import (
    clock_phrase,
    date_phrase,
    english_number,
    english_ordinal,
    german_number,
    german_ordinal,
)

__all__ = [
    "BUILTIN_CORPUS_NAME",
    "SPLITS",
    "clock_phrase",
    "date_phrase",
    "english_number",
    "english_ordinal",
    "generate_builtin_corpus",
    "german_number",
    "german_ordinal",
    "write_builtin_corpus",
]
