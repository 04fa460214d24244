"""Read a subscriber CSV: an email column plus any others, which become merge fields.

Two kinds of trouble, two answers. A file that cannot be read as CSV at all
(wrong encoding, no email column, broken quoting) is refused whole, with the
line where reading stopped. A readable row that is wrong (bad address, a line
break in a field, too many columns) is skipped and reported with its line
number, and the good rows are kept.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from sendpool.content.addresses import normalise_address
from sendpool.errors import CsvImportError, InputError

EMAIL_HEADERS = ("email", "e-mail", "email_address", "emailaddress", "mail")
MAX_COLUMNS = 100
MAX_FIELD = 4096
_FIELD_NAME = re.compile(r"[^0-9a-z_]+")


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    email: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(slots=True)
class ImportReport:
    """What an import did; ``errors`` are the rows skipped, with their line numbers."""

    rows: int = 0
    created: int = 0
    merged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


def field_name(header: str) -> str:
    """'First Name' -> 'first_name', a name a template can use as {{ first_name }}."""
    name = _FIELD_NAME.sub("_", header.strip().lower()).strip("_")
    if name and name[0].isdigit():
        name = "f_" + name
    return name


_LINE_END = re.compile(r"\r\n|\r|\n")


def _chunks(stream: IO[bytes] | IO[str]) -> Iterator[str]:
    """The stream as text; a BOM is dropped and bytes that are not UTF-8 stop the import."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    seen = 0  # line ends before the current chunk, for the decode error's line number
    while True:
        chunk = stream.read(1 << 16)
        if isinstance(chunk, str):
            yield chunk
        elif isinstance(chunk, bytes | bytearray):
            try:
                yield decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                head = bytes(exc.object[: exc.start])
                line = seen + len(_LINE_END.findall(head.decode("utf-8", "replace"))) + 1
                raise CsvImportError(
                    f"line {line}: the file is not UTF-8 text ({exc.reason}); "
                    "save it as 'CSV UTF-8' and import again"
                ) from None
            seen += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        else:
            raise CsvImportError("expected a binary or text stream")
        if not chunk:
            return


class _Lines:
    """Physical lines, each with its end (CR LF, LF or a lone CR, as editors count them).

    ``count`` is the number of lines handed out, so the line a record starts on is
    known before the reader takes it, however many lines its quoted fields span.
    """

    def __init__(self, stream: IO[bytes] | IO[str]) -> None:
        self._lines = self._split(stream)
        self.count = 0
        self._quotes = 0  # quote characters in the record so far: odd means inside a field

    @staticmethod
    def _split(stream: IO[bytes] | IO[str]) -> Iterator[str]:
        buf = ""
        for text in _chunks(stream):
            buf += text
            if text and buf.endswith("\r"):
                continue  # its LF may open the next chunk
            *lines, buf = _LINE_END.split(buf)
            yield from lines
        if buf:
            yield buf

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        self._quotes += line.count('"')
        return line + "\n"

    def start_record(self) -> int:
        self._quotes = 0
        return self.count + 1

    def skip_record(self) -> None:
        """After a refused record: pass over the rest of a quoted field that goes on."""
        while self._quotes % 2:
            try:
                next(self)
            except StopIteration:
                return


def _check_value(column: str, value: str) -> str:
    if "\x00" in value:
        raise InputError(f"column {column!r} contains a NUL character")
    if "\r" in value or "\n" in value:
        raise InputError(f"column {column!r} contains a line break (header injection refused)")
    if len(value) > MAX_FIELD:
        raise InputError(f"column {column!r} is longer than {MAX_FIELD} characters")
    return value


def _too_long(exc: csv.Error) -> bool:
    # Python's csv refuses a field over field_size_limit() (128 KiB) with this message.
    return "field larger than field limit" in str(exc)


def read_rows(stream: IO[bytes] | IO[str]) -> Iterator[Row | RowError]:
    """Yield each data row as a Row or a RowError; raise CsvImportError for the whole file.

    A row's line is the physical line it starts on, as an editor numbers it.
    """
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvImportError(f"line 1: not a CSV header: {exc}") from None
    if not header or not any(h.strip() for h in header):
        raise CsvImportError("the file is empty: the first line must name the columns (email,...)")
    if len(header) > MAX_COLUMNS:
        raise CsvImportError(f"line 1: more than {MAX_COLUMNS} columns")
    names = [field_name(h) for h in header]
    lowered = [h.strip().lower() for h in header]
    email_col = next((lowered.index(h) for h in EMAIL_HEADERS if h in lowered), None)
    if email_col is None:
        raise CsvImportError(
            "line 1: no 'email' column; the first line must name the columns, "
            "for example: email,first_name,last_name"
        )
    if len(set(names)) != len(names) or any(not n for n in names):
        raise CsvImportError("line 1: column names must be distinct and not empty")
    while True:
        line = lines.start_record()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if _too_long(exc):
                lines.skip_record()
                limit = csv.field_size_limit() // 1024
                yield RowError(line, f"field over {limit} KiB; the row was skipped")
                continue
            raise CsvImportError(
                f"line {lines.count}: the file is not valid CSV ({exc}); nothing was imported"
            ) from None
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(names):
            yield RowError(line, f"expected {len(names)} columns, found {len(values)}")
            continue
        try:
            email = normalise_address(values[email_col])
            fields = {
                n: _check_value(n, v)
                for i, (n, v) in enumerate(zip(names, values, strict=True))
                if i != email_col
            }
        except InputError as exc:
            yield RowError(line, str(exc))
            continue
        yield Row(line, email, fields)


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
