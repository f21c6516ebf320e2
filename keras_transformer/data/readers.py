"""Streaming readers for parallel translation corpora, with clear errors.

Two formats are read, each plain or gzipped (gzip is detected by its magic bytes,
not by the file name):

* a pair of line-aligned files, one sentence per line (`train.en` + `train.de`):
  `read_parallel_files`;
* tab-separated pairs, `source<TAB>target[<TAB>more columns...]` as in Tatoeba and
  Anki exports, with configurable columns: `read_tsv`.

`find_splits` discovers the train/valid/test splits of a directory (see its
docstring for the naming rule) and returns `CorpusFiles`, whose `read()` streams
the pairs. Only the standard library is used; the tf.data pipeline wraps these
generators with `tf.data.Dataset.from_generator`.

Behaviour:

* Streaming: files are read line by line through a bounded buffer, so a corpus
  larger than memory works (only a single line must fit). Lines are split on
  "\\n" only (never on the Unicode separators that `str.splitlines` honours).
* Each line loses its line ending ("\\n" or "\\r\\n") and a UTF-8 byte-order mark
  at the start of the file; with `strip=True` (default) surrounding whitespace is
  removed too. The text must be UTF-8.
* A pair with an empty or whitespace-only side is dropped and counted in
  `ReadStats.dropped_empty`; this is not an error.
* Every problem raises `CorpusError` saying what, where (file and 1-based line)
  and what to do. A missing file is reported when the reader is called; other
  problems while iterating, when they are met. In particular, files of unequal
  length are reported when the shorter one runs out, after the pairs before that
  point were yielded (the remainder of the longer file is counted for the
  message).
* Overly long pairs are NOT filtered here: that needs tokenization, so the
  tf.data pipeline does it.
"""

import os
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from keras_transformer.data.lines import (
    CorpusError,
    LineReader,
    PathLike,
    check_exists,
    count_lines,
    listing,
)

__all__ = [
    "CorpusError",
    "CorpusFiles",
    "ReadStats",
    "count_lines",
    "find_splits",
    "read_parallel_files",
    "read_tsv",
]


@dataclass
class ReadStats:
    """Counts kept while reading; pass the same object to accumulate over files."""

    pairs_read: int = 0  # pairs yielded
    dropped_empty: int = 0  # pairs with an empty or whitespace-only side, dropped
    dropped_nul: int = 0  # pairs with a NUL character (binary data), dropped

    def describe(self) -> str:
        """A one-line summary, e.g. "read 29000 pairs; dropped 12 pairs ..."."""
        parts = [
            f"read {_plural(self.pairs_read, 'pair')}",
            f"dropped {_plural(self.dropped_empty, 'pair')} with an empty or "
            "whitespace-only side",
        ]
        if self.dropped_nul:
            parts.append(
                f"dropped {_plural(self.dropped_nul, 'pair')} holding a NUL "
                "character (binary data in a text file)"
            )
        return "; ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _keep(source: str, target: str, stats: ReadStats, strip: bool):
    """The pair to yield, counted in `stats`, or None if a side is blank or
    holds a NUL character (which no text has, and a tokenizer would turn into
    an unknown token)."""
    if not source.strip() or not target.strip():
        stats.dropped_empty += 1
        return None
    if "\x00" in source or "\x00" in target:
        stats.dropped_nul += 1
        return None
    stats.pairs_read += 1
    return (source.strip(), target.strip()) if strip else (source, target)


def read_parallel_files(
    source_path: PathLike,
    target_path: PathLike,
    stats: ReadStats | None = None,
    strip: bool = True,
) -> Iterator[tuple[str, str]]:
    """Streams the (source, target) pairs of two line-aligned files.

    Line i of `source_path` is the translation of line i of `target_path`; either
    file may be gzipped. Pairs with an empty or whitespace-only side are dropped
    and counted in `stats.dropped_empty`; `stats.pairs_read` counts the pairs
    yielded. Raises `CorpusError` at once for a missing file, and while iterating
    for invalid UTF-8, an empty file, or files of different lengths (raised when
    the shorter file runs out, after the pairs before it were yielded).
    """
    check_exists(source_path)
    check_exists(target_path)
    return _parallel_pairs(source_path, target_path, stats or ReadStats(), strip)


def _parallel_pairs(source_path, target_path, stats, strip):
    with (
        closing(LineReader(source_path)) as source,
        closing(LineReader(target_path)) as target,
    ):
        pairs = 0
        while True:
            source_text = next(source, None)
            target_text = next(target, None)
            if source_text is None or target_text is None:
                if source_text is not None or target_text is not None:
                    extra = source_text if target_text is None else target_text
                    _raise_misaligned(source, target, extra)
                break
            if pair := _keep(source_text, target_text, stats, strip):
                pairs += 1
                yield pair
        if not pairs:
            _raise_nothing_read([source, target])


def _raise_misaligned(source: LineReader, target: LineReader, extra_text: str):
    """One file ended early (`extra_text` is the line the other had): raises."""
    longer, ended = source, target
    if target.line_number > source.line_number:
        longer, ended = target, source
    if ended.line_number == 0:
        _raise_empty(ended)
    rest, blank = longer.count_rest()
    extra = rest + 1
    totals = (longer.line_number + rest, ended.line_number)
    source_lines, target_lines = totals if longer is source else totals[::-1]
    hint = ""
    if blank == rest and not extra_text.strip():
        verb, it = ("is", "it") if extra == 1 else ("are", "them")
        hint = f" The {_plural(extra, 'extra line')} of {longer.path} {verb} blank: "
        hint += f"remove {it}."
    raise CorpusError(
        f"{source.path} has {_plural(source_lines, 'line')} but {target.path} "
        f"has {target_lines}: the files of a parallel corpus must be "
        "line-aligned (line i of one translates line i of the other); "
        f"{ended.path} ended after line {ended.line_number}. Check that neither file "
        f"is truncated or has extra lines, and that they belong together.{hint}"
    )


def _raise_empty(lines: LineReader):
    raise CorpusError(
        f"{lines.path} is empty: a corpus file needs at least one line of text; "
        "check that it was fully written or downloaded"
    )


def _raise_nothing_read(files: list[LineReader]):
    for lines in files:
        if lines.line_number == 0:
            _raise_empty(lines)
    for lines in files:
        if lines.blank_only:
            raise CorpusError(
                f"{lines.path} has {_plural(lines.line_number, 'line')}, all empty "
                "or whitespace-only: nothing could be read from it"
            )
    if len(files) == 1:
        what = f"every line of {files[0].path} has an empty source or target column"
        fix = "check source_column / target_column"
    else:
        what = (
            f"every line pair of {files[0].path} and {files[1].path} has an empty side"
        )
        fix = "check that the files belong together"
    raise CorpusError(f"no pair could be read: {what}, so all were dropped; {fix}")


def read_tsv(
    path: PathLike,
    source_column: int = 0,
    target_column: int = 1,
    stats: ReadStats | None = None,
    strip: bool = True,
) -> Iterator[tuple[str, str]]:
    """Streams (source, target) pairs from a tab-separated file (maybe gzipped).

    Each line is `column0<TAB>column1[<TAB>...]` (the Tatoeba / Anki format has
    the attribution in a third column); the pair is taken from `source_column`
    and `target_column` (0-based), other columns are ignored. A blank line, or a
    pair with an empty side, is dropped and counted in `stats.dropped_empty`.
    Raises `CorpusError` for a missing or empty file, invalid UTF-8, or a line
    with too few columns.
    """
    if min(source_column, target_column) < 0:
        raise ValueError(f"columns must be >= 0, got {source_column}, {target_column}")
    check_exists(path)
    return _tsv_pairs(path, source_column, target_column, stats or ReadStats(), strip)


def _tsv_pairs(path, source_column, target_column, stats, strip):
    needed = max(source_column, target_column) + 1
    with closing(LineReader(path)) as lines:
        pairs = 0
        for line in lines:
            if not line.strip():
                stats.dropped_empty += 1
                continue
            fields = line.split("\t")
            if len(fields) < needed:
                raise CorpusError(
                    f"{path}, line {lines.line_number}: expected at least {needed} "
                    f"tab-separated columns (source column {source_column}, target "
                    f"column {target_column}), found {len(fields)}: {line[:60]!r}; "
                    "check that the file is tab-separated and choose the columns "
                    "with source_column / target_column"
                )
            pair = _keep(fields[source_column], fields[target_column], stats, strip)
            if pair:
                pairs += 1
                yield pair
        if not pairs:
            _raise_nothing_read([lines])


@dataclass(frozen=True)
class CorpusFiles:
    """The files of one split: either `source_path` + `target_path` (line-aligned
    files) or `tsv_path` with `source_column` / `target_column`."""

    source_path: Path | None = None
    target_path: Path | None = None
    tsv_path: Path | None = None
    source_column: int = 0
    target_column: int = 1

    def __post_init__(self):
        paths = (self.source_path, self.target_path, self.tsv_path)
        given = tuple(path is not None for path in paths)
        if given not in ((True, True, False), (False, False, True)):
            raise ValueError(
                "CorpusFiles needs either source_path and target_path, or tsv_path"
            )
        for name in ("source_path", "target_path", "tsv_path"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))

    def read(
        self, stats: ReadStats | None = None, strip: bool = True
    ) -> Iterator[tuple[str, str]]:
        """Streams the (source, target) pairs: see read_parallel_files / read_tsv."""
        if self.tsv_path is not None:
            return read_tsv(
                self.tsv_path, self.source_column, self.target_column, stats, strip
            )
        return read_parallel_files(self.source_path, self.target_path, stats, strip)

    def __str__(self) -> str:
        if self.tsv_path is not None:
            columns = f"columns {self.source_column}, {self.target_column}"
            return f"{self.tsv_path.name} ({columns})"
        return f"{self.source_path.name} + {self.target_path.name}"


_VALID_NAMES = {"valid", "val", "dev", "validation", "newstest2013"}
_NEWSDEV = re.compile(r"newsdev20\d\d")
_NEWSTEST = re.compile(r"newstest20\d\d")


def _split_of(stem: str) -> str | None:
    if stem == "train":
        return "train"
    if stem in _VALID_NAMES or _NEWSDEV.fullmatch(stem):
        return "valid"
    if stem.startswith("test") or _NEWSTEST.fullmatch(stem):
        return "test"
    return None


def find_splits(
    directory: PathLike, source_language: str, target_language: str
) -> dict[str, CorpusFiles]:
    """Finds the train / valid / test splits of a corpus directory.

    A split is a pair of files `{stem}.{src}` + `{stem}.{tgt}`, or one TSV file
    `{stem}.{src}-{tgt}.tsv` (columns 0, 1), `{stem}.{tgt}-{src}.tsv` (columns 1,
    0) or `{stem}.tsv` (columns 0, 1); any of them may end in `.gz`. The stem
    names the split: "train" is train; "valid", "val", "dev", "validation",
    "newstest2013" and "newsdev20xx" are valid; a stem that starts with "test"
    ("test", "test2016", "test_2016_flickr") or is "newstest20xx" (other than
    2013) is test. Other files are ignored.

    Returns {"train": ..., "valid": ..., "test": ...}; valid and test are left
    out when absent. Raises `CorpusError` when there is no train split, when
    only one side of a pair exists, or when a split has several candidates (then
    pass explicit paths to `CorpusFiles`, `read_parallel_files` or `read_tsv`).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CorpusError(
            f"corpus directory not found: {directory.resolve()}; check the path"
            if not directory.exists()
            else f"{directory} is a file, not a directory: use read_parallel_files "
            "or read_tsv to read it"
        )
    src, tgt = source_language, target_language
    sides: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    found: dict[str, list[CorpusFiles]] = defaultdict(list)
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if not entry.is_file():
            continue
        path = Path(entry.path)
        stem, _, extension = entry.name.removesuffix(".gz").rpartition(".")
        if extension in (src, tgt) and _split_of(stem):
            sides[stem][extension].append(path)
        elif extension == "tsv":
            base, dot, languages = stem.rpartition(".")
            if not dot:
                base, columns = stem, (0, 1)
            elif languages in (f"{src}-{tgt}", f"{tgt}-{src}"):
                columns = (0, 1) if languages == f"{src}-{tgt}" else (1, 0)
            else:
                continue
            if split := _split_of(base):
                found[split].append(CorpusFiles(None, None, path, *columns))
    for stem, paths in sides.items():
        for language in (src, tgt):
            if not paths[language]:
                other = paths[src if language == tgt else tgt][0]
                raise CorpusError(
                    f"found {other.name} but no {stem}.{language} (or .gz) beside it "
                    f"in {directory}: the {_split_of(stem)} split needs both sides; "
                    "add the missing file or pass explicit paths to "
                    "read_parallel_files"
                )
            if len(paths[language]) > 1:
                names = " and ".join(p.name for p in paths[language])
                raise CorpusError(
                    f"both {names} exist in {directory}: remove one, or pass "
                    "explicit paths to read_parallel_files"
                )
        found[_split_of(stem)].append(CorpusFiles(paths[src][0], paths[tgt][0]))
    for split, candidates in found.items():
        if len(candidates) > 1:
            names = "; ".join(str(c) for c in candidates)
            raise CorpusError(
                f"{len(candidates)} candidates for the {split} split in {directory}: "
                f"{names}. Pick one by passing explicit paths, e.g. "
                "CorpusFiles(source_path=..., target_path=...) or "
                "CorpusFiles(tsv_path=...), or move the others away"
            )
    if "train" not in found:
        raise CorpusError(
            f"no train split for {src}-{tgt} in {directory}: looked for train.{src} + "
            f"train.{tgt}, train.{src}-{tgt}.tsv, train.{tgt}-{src}.tsv and train.tsv "
            f"(each optionally .gz); files there: {listing(directory)}. Rename the "
            "files, or pass explicit paths to read_parallel_files / read_tsv"
        )
    return {s: found[s][0] for s in ("train", "valid", "test") if s in found}
