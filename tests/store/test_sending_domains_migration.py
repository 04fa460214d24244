"""Upgrading to sending domains: each customer keeps the domains it already sent from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from sendpool.store.db import make_engine, migrate
from tests.support.services import PgDatabases

BEFORE = "0003_admin_sessions"
T = "2026-11-01 00:00:00.000000"


def _seed_before(engine: Engine) -> None:
    """Three customers as they were at 0003: campaigns and transactional mail, no domains."""
    with engine.begin() as c:
        for uid in ("acme", "globex", "initech"):
            c.execute(
                text("INSERT INTO customers (uid, name, created_at) VALUES (:u, :u, :t)"),
                {"u": uid, "t": T},
            )
        ids = dict(c.execute(text("SELECT uid, id FROM customers")).all())
        for who in ("acme", "globex"):
            c.execute(
                text(
                    "INSERT INTO lists (uid, customer_id, name, created_at)"
                    " VALUES (:u, :c, 'l', :t)"
                ),
                {"u": who, "c": ids[who], "t": T},
            )
        lists = dict(c.execute(text("SELECT uid, id FROM lists")).all())
        campaigns = [
            ("acme", "news@Example.com"),
            ("acme", "offers@example.com"),
            ("acme", "x@bücher.example"),
            ("globex", "hello@globex.example"),
            ("globex", "fake@shared.example"),  # also acme's, below: given to neither
        ]
        for i, (who, sender) in enumerate(campaigns):
            c.execute(
                text(
                    "INSERT INTO campaigns (uid, customer_id, list_id, name, subject, from_email,"
                    " status, recipient_count, launch_cursor, created_at, updated_at)"
                    " VALUES (:u, :c, :l, 'n', 's', :f, 'draft', 0, 0, :t, :t)"
                ),
                {"u": f"c{i}", "c": ids[who], "l": lists[who], "f": sender, "t": T},
            )
        messages = [
            ("acme", "shop@shared.example"),
            ("initech", "receipts@initech.example"),
            ("initech", "receipts@initech.example"),
        ]
        for i, (who, sender) in enumerate(messages):
            c.execute(
                text(
                    "INSERT INTO messages (uid, customer_id, recipient, kind, status, attempts,"
                    " due_at, queued_at, updated_at, payload)"
                    " VALUES (:u, :c, 'r@example.org', 'transactional', 'sent', 1, :t, :t, :t, :p)"
                ),
                {"u": f"m{i}", "c": ids[who], "t": T, "p": json.dumps({"from_email": sender})},
            )


def _domains(engine: Engine) -> set[tuple[str, str, str]]:
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT c.name, d.domain, d.created_by FROM sending_domains d"
                " JOIN customers c ON c.id = d.customer_id WHERE d.verified_at IS NOT NULL"
            )
        )
        return {(r[0], r[1], r[2]) for r in rows}


SEEDED = {
    ("acme", "example.com", "migration"),
    ("acme", "xn--bcher-kva.example", "migration"),
    ("globex", "globex.example", "migration"),
    ("initech", "initech.example", "migration"),
}


def test_the_migration_seeds_each_customers_domains_from_what_it_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(engine, BEFORE)
    _seed_before(engine)
    migrate(engine)
    assert _domains(engine) == SEEDED
    assert "sending domain shared.example was used by customers" in caplog.text
    migrate(engine)  # a second run changes nothing
    assert _domains(engine) == SEEDED


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    databases = PgDatabases(pg_url)
    url = databases.create(migrated=False)
    try:
        yield url
    finally:
        databases.drop(url)
        databases.close()


@pytest.mark.services
def test_the_migration_seeds_the_same_on_postgresql(pg_database: str) -> None:
    engine = make_engine(pg_database)
    try:
        migrate(engine, BEFORE)
        _seed_before(engine)
        migrate(engine)
        assert _domains(engine) == SEEDED
    finally:
        engine.dispose()
