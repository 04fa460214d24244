"""CSV lists: bad files are refused whole, bad rows are skipped with their line numbers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from sendpool.content.csv_import import field_name, read_rows
from sendpool.errors import CsvImportError
from sendpool.runtime import Runtime
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.store.tables import MailingList, Subscriber
from tests.support.scenario import apply

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def setup(rt: Runtime) -> int:
    apply(rt, {"customers": [{"name": "acme"}]})
    return rt.db.transaction(lambda c: get_or_create_list(c, 1, "main", NOW))


def subscribers(rt: Runtime) -> dict[str, dict[str, str]]:
    rows = rt.db.transaction(lambda c: c.execute(select(Subscriber.email, Subscriber.fields)).all())
    return {e: f for e, f in rows}


def run_import(rt: Runtime, list_id: int, data: bytes):  # type: ignore[no-untyped-def]
    return rt.db.transaction(lambda c: import_csv(c, list_id, io.BytesIO(data), NOW, batch_size=2))


def test_good_rows_are_kept_bad_rows_reported_with_line_numbers(runtime: Runtime) -> None:
    list_id = setup(runtime)
    data = (
        b"Email,First Name,city\n"
        b"ada@example.com,Ada,London\n"
        b"not-an-address,Bob,Paris\n"
        b"grace@example.com,Grace\n"
        b"\n"
        b'ALAN@Example.COM,Alan,"Bletchley, UK"\n'
        b'eve@example.com,"Eve\r\nBcc: victim@example.com",x\n'
        b"ada@example.com,,Cambridge\n"
    )
    report = run_import(runtime, list_id, data)
    assert [(e.line, e.message.split(":")[0]) for e in report.errors] == [
        (3, "invalid email address 'not-an-address'"),
        (4, "expected 3 columns, found 2"),
        # The line the row starts on, however many lines its quoted field spans.
        (7, "column 'first_name' contains a line break (header injection refused)"),
    ]
    assert (report.rows, report.created, report.merged) == (3, 2, 1)
    subs = subscribers(runtime)
    assert set(subs) == {"ada@example.com", "ALAN@example.com"}
    # A duplicate merges field by field: the later row wins where it says something.
    assert subs["ada@example.com"] == {"first_name": "", "city": "Cambridge"}
    assert subs["ALAN@example.com"]["city"] == "Bletchley, UK"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"name,city\nada,London\n", "no 'email' column"),
        (
            b"email,name\nada@example.com,ok\nb@example.com,\xff\xfe\n",
            "line 3: the file is not UTF-8",
        ),
        (b'email,name\nada@example.com,"unterminated\n', "not valid CSV"),
        (b"email,email\na@example.com,b@example.com\n", "distinct"),
        (
            ("email," + ",".join(f"c{i}" for i in range(120)) + "\n").encode(),
            "more than 100 columns",
        ),
    ],
)
def test_a_file_that_is_not_csv_is_refused_whole_and_nothing_is_written(
    runtime: Runtime, data: bytes, message: str
) -> None:
    list_id = setup(runtime)
    with pytest.raises(CsvImportError, match=message):
        run_import(runtime, list_id, data)
    count = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(Subscriber)).scalar()
    )
    assert count == 0


@pytest.mark.parametrize("breakage", [b"x@example.com,\xff\n", b'x@example.com,"open\n'])
def test_a_breakage_late_in_the_file_leaves_no_earlier_row_behind(
    runtime: Runtime, breakage: bytes
) -> None:
    list_id = setup(runtime)
    good = b"email,name\n" + b"".join(f"u{i}@example.com,n{i}\n".encode() for i in range(7))
    with pytest.raises(CsvImportError, match="line 9"):
        run_import(runtime, list_id, good + breakage)
    count = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(Subscriber)).scalar()
    )
    assert count == 0


def test_nul_bytes_are_a_bad_row_not_a_crash() -> None:
    items = list(read_rows(io.BytesIO(b"email,name\nx@example.com,a\x00b\ny@example.com,ok\n")))
    assert "NUL" in str(items[0]) and str(items[0]).startswith("line 2")
    assert getattr(items[1], "email", None) == "y@example.com"


def test_oversized_fields_and_bom() -> None:
    data = "\ufeffemail,note\na@example.com," + "x" * 5000 + "\nb@example.com,ok\n"
    items = list(read_rows(io.BytesIO(data.encode())))
    assert "longer than 4096" in str(items[0])
    assert getattr(items[1], "email", None) == "b@example.com"


def test_text_streams_and_field_names() -> None:
    items = list(read_rows(io.StringIO("E-Mail,2nd Line\nx@example.com,y\n")))
    assert getattr(items[0], "fields", None) == {"f_2nd_line": "y"}
    assert field_name("  First Name ") == "first_name"


def test_lists_are_per_customer(runtime: Runtime) -> None:
    list_id = setup(runtime)
    assert runtime.db.transaction(lambda c: get_or_create_list(c, 1, "main", NOW)) == list_id
    assert (
        runtime.db.transaction(
            lambda c: c.execute(select(func.count()).select_from(MailingList)).scalar()
        )
        == 1
    )


def test_a_field_over_the_csv_limit_skips_only_its_row() -> None:
    huge = "x" * (200 * 1024)
    data = (
        "email,note\n"
        f"a@example.com,{huge}\n"
        f'b@example.com,"{huge}\r\nstill the same field"\n'
        "c@example.com,ok\n"
    )
    items = list(read_rows(io.BytesIO(data.encode())))
    assert [str(i) for i in items[:2]] == [
        "line 2: field over 128 KiB; the row was skipped",
        "line 3: field over 128 KiB; the row was skipped",
    ]
    assert getattr(items[2], "email", None) == "c@example.com"
    assert getattr(items[2], "line", None) == 5


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_numbers_are_physical_lines_after_a_quoted_line_break(newline: str) -> None:
    rows = ["email,note", 'a@example.com,"one\r\ntwo\r\nthree"', "broken", "d@example.com,ok"]
    data = newline.join(rows) + newline
    items = list(read_rows(io.BytesIO(data.encode())))
    assert [getattr(i, "line", None) for i in items] == [2, 5, 6]
    assert str(items[1]).startswith("line 5: ")
    text = list(read_rows(io.StringIO(data, newline="")))
    assert [getattr(i, "line", None) for i in text] == [2, 5, 6]


def test_addresses_that_differ_only_in_case_are_one_subscriber(runtime: Runtime) -> None:
    list_id = setup(runtime)
    data = b"email,n\nF7@EXAMPLE.ORG,1\nx@example.org,2\nf7@example.org,3\n"
    report = run_import(runtime, list_id, data)  # batches of 2: the pair spans two
    assert (report.created, report.merged) == (2, 1)
    report = run_import(runtime, list_id, b"email,n\nf7@Example.org,4\n")
    assert (report.created, report.merged) == (0, 1)
    subs = subscribers(runtime)
    # The spelling first written is kept (domains are lower-cased), the fields merged.
    assert subs == {"F7@example.org": {"n": "4"}, "x@example.org": {"n": "2"}}
