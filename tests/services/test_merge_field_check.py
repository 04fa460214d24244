"""Merge fields checked against the list: counted in SQL on both databases, refused by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert, select

from sendpool.runtime import Runtime
from sendpool.services.campaigns.merge_fields import FieldUse, check_merge_fields, field_counts
from sendpool.services.errors import FieldError
from sendpool.services.tenancy import customers
from sendpool.store.tables import Customer, MailingList, Subscriber
from tests.support.cli_env import CliEnv
from tests.support.services import PgDatabases
from tests.support.settings import make_settings

NOW = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
# What each subscriber's fields hold; only the first five of "city" are values.
ROWS: list[tuple[str, dict[str, Any]]] = [
    ("subscribed", {"city": "Oslo", "first_name": "Ann"}),
    ("subscribed", {"city": 0, "first_name": "Bob"}),  # a number is a value, even 0
    ("subscribed", {"city": False, "first_name": "Cy"}),
    ("subscribed", {"city": ["a"], "first_name": "Di"}),
    ("subscribed", {"city": "x y", "first_name": "Ed"}),
    ("subscribed", {"city": "", "first_name": "Flo"}),  # an empty CSV cell
    ("subscribed", {"city": None, "first_name": "Gus"}),  # JSON null
    ("subscribed", {"first_name": "Hal"}),
    ("unsubscribed", {"tier": 1, "first_name": "Ivy"}),  # not sent to: does not count
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        with Runtime.open(make_settings(tmp_path)) as opened:
            yield opened
        return
    dbs = PgDatabases(request.getfixturevalue("pg_url"))
    url = dbs.create()
    try:
        with Runtime.open(make_settings(tmp_path, database_url=url)) as opened:
            yield opened
    finally:
        dbs.drop(url)
        dbs.close()


def seed(rt: Runtime) -> int:
    rt.db.transaction(customers.create_customer, fields={"name": "acme"}, actor="t", now=NOW)

    def write(conn: Connection) -> int:
        cid = conn.execute(select(Customer.id)).scalar_one()
        list_id = conn.execute(
            insert(MailingList).values(customer_id=cid, name="News").returning(MailingList.id)
        ).scalar_one()
        for i, (status, fields) in enumerate(ROWS):
            conn.execute(
                insert(Subscriber).values(
                    list_id=list_id,
                    email=f"p{i}@example.com",
                    email_key=f"p{i}@example.com",
                    fields=fields,
                    status=status,
                )
            )
        return int(list_id)

    return rt.db.transaction(write)


def test_values_are_counted_in_sql_among_the_subscribed(rt: Runtime) -> None:
    list_id = seed(rt)
    total, have = rt.db.transaction(field_counts, list_id, ["city", "first_name", "tier", "zip"])
    assert total == 8
    assert have == {"city": 5, "first_name": 8, "tier": 0, "zip": 0}


def test_one_query_checks_every_field_and_a_missing_one_is_refused_by_part(rt: Runtime) -> None:
    list_id = seed(rt)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(rt.db.engine, "before_cursor_execute", seen)
    try:
        with pytest.raises(FieldError) as refused:
            rt.db.transaction(
                check_merge_fields,
                list_id,
                subject="Hi {{ first_nmae }}",
                text="{{ first_name }} from {{ city }} {{ tier }} {{ first_nmae }}",
                html=None,
            )
    finally:
        event.remove(rt.db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "subscribers" in s]) == 1
    assert [f for f, _ in refused.value.errors] == ["subject", "text"]
    subject, text = (m for _, m in refused.value.errors)
    assert "{{ first_nmae }}" in subject and "add a column 'first_nmae'" in subject
    assert "{{ first_nmae }}, {{ tier }}" in text and "columns 'first_nmae', 'tier'" in text
    assert "city" not in text  # five of eight have it: a warning, not a refusal


def test_fields_some_lack_are_warnings_and_built_ins_never_count(rt: Runtime) -> None:
    list_id = seed(rt)
    warnings = rt.db.transaction(
        check_merge_fields,
        list_id,
        subject="{{ email }} {{ unsubscribe_url }}",
        text=None,
        html="<p>{{ city }}</p>{% for x in range(3) %}{{ x }}{% endfor %}{{ first_name }}",
    )
    assert warnings == [
        "merge field {{ city }} is empty or missing for 3 of 8 subscribers; "
        "it renders empty for them"
    ]
    assert FieldUse.of(subject="{{ email }}", text="{{ unsubscribe_url }}", html=None).names == []


def write_pool(path: Path) -> Path:
    path.write_text(
        '[[plans]]\nname = "Marketing"\nservers = []\n\n'
        '[[customers]]\nname = "acme"\nplan = "Marketing"\nsending_domains = ["example.com"]\n'
    )
    return path


def run(cli: CliEnv, tmp_path: Path, csv: str, subject: str) -> Any:
    assert cli.invoke(["pool", "apply", str(write_pool(tmp_path / "pool.toml"))]).exit_code == 0
    (tmp_path / "people.csv").write_text(csv)
    (tmp_path / "body.txt").write_text("Hello\n")
    return cli.wide().invoke(
        ["campaign", "run", "--no-wait", "--customer", "acme", "--csv",
         str(tmp_path / "people.csv"), "--subject", subject, "--from", "news@example.com",
         "--text", str(tmp_path / "body.txt")]
    )  # fmt: skip


def test_the_cli_names_the_column_to_add_and_creates_nothing(cli: CliEnv, tmp_path: Path) -> None:
    result = run(cli, tmp_path, "email,first_name\na@example.com,Ann\n", "Hi {{ first_nmae }}")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "add a column 'first_nmae' to the list's CSV" in text
    with Runtime.open(cli.settings) as rt:
        assert rt.db.transaction(lambda c: c.execute(select(MailingList.id)).all()) == []


def test_the_cli_warns_of_empty_cells_with_the_count(cli: CliEnv, tmp_path: Path) -> None:
    csv = "email,first_name\na@example.com,Ann\nb@example.com,\nc@example.com,Cy\n"
    result = run(cli, tmp_path, csv, "Hi {{ first_name }}")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: merge field {{ first_name }} is empty or missing for 1 of 3" in text
