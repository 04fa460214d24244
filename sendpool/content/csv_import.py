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
import io
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


def _decoded_lines(stream: IO[bytes] | IO[str]) -> Iterator[str]:
    """Lines as text; a BOM is dropped and bytes that are not UTF-8 stop the import."""
    if isinstance(stream, io.TextIOBase):
        yield from stream
        return
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    buf = ""
    line_no = 1
    while True:
        chunk = stream.read(1 << 16)
        if not isinstance(chunk, bytes | bytearray):
            raise CsvImportError("expected a binary or text stream")
        try:
            buf += decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = line_no + buf.count("\n") + bytes(exc.object[: exc.start]).count(b"\n")
            raise CsvImportError(
                f"line {line}: the file is not UTF-8 text ({exc.reason}); "
                "save it as 'CSV UTF-8' and import again"
            ) from None
        *lines, buf = buf.split("\n")
        for ln in lines:
            line_no += 1
            yield ln + "\n"
        if not chunk:
            if buf:
                yield buf
            return


def _check_value(column: str, value: str) -> str:
    if "\x00" in value:
        raise InputError(f"column {column!r} contains a NUL character")
    if "\r" in value or "\n" in value:
        raise InputError(f"column {column!r} contains a line break (header injection refused)")
    if len(value) > MAX_FIELD:
        raise InputError(f"column {column!r} is longer than {MAX_FIELD} characters")
    return value


def read_rows(stream: IO[bytes] | IO[str]) -> Iterator[Row | RowError]:
    """Yield each data row as a Row or a RowError; raise CsvImportError for the whole file."""
    reader = csv.reader(_decoded_lines(stream), strict=True)
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
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvImportError(
                f"line {reader.line_num}: the file is not valid CSV ({exc}); nothing was imported"
            ) from None
        line = reader.line_num
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
