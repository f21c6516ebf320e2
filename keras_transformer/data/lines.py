"""The lines of a corpus file, decoded and numbered, with clear errors.

Files are read line by line through a bounded buffer (a corpus larger than
memory works), gzipped or not (detected by the magic bytes). Lines are split
on "\\n" only; each loses its line ending ("\\n" or "\\r\\n"), and the
first line a UTF-8 byte-order mark. Every problem raises `CorpusError` with
the file, the 1-based line and what to do. Only the standard library.
"""

import gzip
import os
import zlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

PathLike = str | os.PathLike

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_READ_ERRORS = (OSError, EOFError, zlib.error)


class CorpusError(ValueError):
    """A problem with a corpus file: the message says what, where (file, line)
    and what to do."""


def listing(directory: Path, limit: int = 10) -> str:
    """The file names in `directory`, for an error message."""
    try:
        names = sorted(e.name for e in os.scandir(directory) if e.is_file())
    except OSError:
        return "(cannot list it)"
    if not names:
        return "(no files)"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def open_binary(path: PathLike):
    """Opens `path` for binary reading, decompressing it if it is gzipped."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(2)
        return gzip.open(path, "rb") if magic == _GZIP_MAGIC else open(path, "rb")
    except FileNotFoundError:
        directory = path.parent.resolve()
        where = f"files there: {listing(directory)}"
        if not directory.is_dir():
            where = f"the directory {directory} does not exist either"
        raise CorpusError(
            f"corpus file not found: {path.name} in directory {directory} ({where}); "
            "check the path and the file name"
        ) from None
    except IsADirectoryError:
        raise CorpusError(
            f"{path} is a directory, not a corpus file; to discover the splits in "
            "a directory use find_splits"
        ) from None
    except OSError as error:
        raise CorpusError(f"cannot open {path}: {error.strerror}") from error


class LineReader:
    """The decoded lines of one file, numbered from 1, read one at a time."""

    def __init__(self, path: PathLike):
        self.path = path
        self.line_number = 0  # lines read so far
        self.blank_only = True  # no line with text seen so far
        self._offset = 0  # bytes (decompressed) before the current line
        self._file = open_binary(path)

    def close(self) -> None:
        self._file.close()

    def read(self, size: int = 0) -> bytes:
        """Reads `size` bytes, or a line if size is 0."""
        try:
            return self._file.read(size) if size else self._file.readline()
        except _READ_ERRORS as error:
            raise CorpusError(
                f"{self.path}, line {self.line_number + 1}: cannot read the file "
                f"({error}); it may be truncated or corrupt, e.g. an interrupted "
                "download: fetch or decompress it again"
            ) from error

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.read()
        if not raw:
            raise StopIteration
        self.line_number += 1
        offset, self._offset = self._offset, self._offset + len(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CorpusError(self._decode_message(raw, error, offset)) from None
        text = text.removesuffix("\n").removesuffix("\r")
        if "\r" in text:
            raise CorpusError(
                f"{self.path}, line {self.line_number}: a carriage return (\\r) "
                "inside the line: the file seems to end its lines with \\r alone "
                "(classic Mac OS), so it reads as one long line. Convert the line "
                f"endings to \\n, e.g. `tr '\\r' '\\n' < {self.path} > fixed`"
            )
        if self.line_number == 1:
            text = text.removeprefix("\ufeff")
        if self.blank_only and text.strip():
            self.blank_only = False
        return text

    def _decode_message(self, raw: bytes, error: UnicodeDecodeError, offset: int):
        bad = raw[error.start : error.end]
        message = (
            f"{self.path}, line {self.line_number}: invalid UTF-8 (bytes {bad!r} at "
            f"column {error.start + 1}, byte offset {offset + error.start} in the "
            "file); corpus files must be UTF-8: convert it, e.g. "
            f"`iconv -f ISO-8859-1 -t UTF-8 {self.path} > fixed` if it is Latin-1"
        )
        if self.line_number == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            message += " (this file starts with a UTF-16 byte-order mark: -f UTF-16)"
        return message

    def count_rest(self) -> tuple[int, int]:
        """Reads the rest of the file: returns (lines left, how many are blank)."""
        lines = blank = 0
        while raw := self.read():
            lines += 1
            blank += not raw.strip()
        return lines, blank


def check_exists(path: PathLike) -> None:
    """Reports a missing file when a reader is called, not when first iterated."""
    if not Path(path).is_file():
        open_binary(path).close()  # raises the CorpusError that says why


def count_lines(path: PathLike) -> int:
    """Counts the lines of a file (gzipped or not) fast, in 1 MiB chunks.

    A last line without a final newline counts, as it does for the readers.
    """
    last = b"\n"
    with closing(LineReader(path)) as lines:
        while chunk := lines.read(_CHUNK):
            lines.line_number += chunk.count(b"\n")  # for error messages
            last = chunk[-1:]
    return lines.line_number + (last != b"\n")
