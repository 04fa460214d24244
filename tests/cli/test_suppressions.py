"""``sendpool suppressions``: one customer's list, by hand and as CSV, never another's."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, select

from sendpool.services import refs
from sendpool.services.tenancy import customers
from sendpool.store.tables import Suppression, table
from tests.support.cli_env import CliEnv
from tests.support.snapshots import db_snapshot

NOW = datetime.now(UTC)


def _setup(cli: CliEnv) -> None:
    def make(conn: Connection) -> None:
        for name in ("acme", "globex"):
            customers.create_customer(conn, fields={"name": name}, actor="t", now=NOW)
        conn.execute(
            table(Suppression)
            .insert()
            .values(
                customer_id=refs.customer_id(conn, "globex"),
                email="theirs@example.com",
                reason="550 5.1.1",
                kind="hard_bounce",
                created_at=NOW,
            )  # fmt: skip
        )

    with cli.open() as rt:
        rt.db.transaction(make)


def _stored(cli: CliEnv, customer: str) -> dict[str, tuple[str | None, str]]:
    def read(conn: Connection) -> dict[str, tuple[str | None, str]]:
        cid = refs.customer_id(conn, customer)
        rows = conn.execute(
            select(Suppression.email, Suppression.kind, Suppression.reason).where(
                Suppression.customer_id == cid
            )
        )
        return {e: (k, r) for e, k, r in rows}

    with cli.open() as rt:
        return rt.db.transaction(read)


def test_add_list_remove(cli: CliEnv) -> None:
    _setup(cli)
    added = cli.invoke(
        ["suppressions", "add", "Ann@EXAMPLE.com", "--customer", "ACME", "--reason", "asked"]
    )
    assert added.exit_code == 0, added.output
    assert "Ann@example.com: suppressed: asked" in added.stdout
    again = cli.invoke(["suppressions", "add", "ann@example.com", "--customer", "acme"])
    assert "already suppressed (manual)" in again.stdout
    assert _stored(cli, "acme") == {"Ann@example.com": ("manual", "asked")}
    listed = json.loads(cli.invoke(["suppressions", "list", "--customer", "acme", "--json"]).stdout)
    assert [(s["email"], s["kind"], s["reason"]) for s in listed] == [
        ("Ann@example.com", "manual", "asked")
    ]
    shown = cli.wide().invoke(["suppressions", "list", "--customer", "globex"])
    assert "theirs@example.com" in shown.stdout and "hard_bounce" in shown.stdout
    hard = ["suppressions", "list", "--customer", "globex", "--kind", "complaint", "--json"]
    assert json.loads(cli.invoke(hard).stdout) == []
    removed = cli.invoke(["suppressions", "remove", "ann@example.com", "--customer", "acme"])
    assert removed.exit_code == 0 and "no longer suppressed" in removed.stdout
    assert _stored(cli, "acme") == {}


def test_bad_input_and_another_customers_address_change_nothing(cli: CliEnv) -> None:
    _setup(cli)
    with cli.open() as rt:
        before = db_snapshot(rt)
    cases = [
        (["add", "not-an-address", "--customer", "acme"], "invalid email address"),
        (["add", "x@example.com", "--customer", "acme", "--reason", "a\nBcc: y"], "reason"),
        (["add", "x@example.com", "--customer", "nobody"], "unknown customer"),
        (["remove", "theirs@example.com", "--customer", "acme"], "not suppressed"),
        (["list", "--customer", "acme", "--kind", "bogus"], "kind: unknown kind"),
        (["import", "missing.csv", "--customer", "acme"], "cannot read"),
    ]
    for args, said in cases:
        result = cli.invoke(["suppressions", *args])
        assert result.exit_code == 2, (args, result.output)
        assert said in result.stderr.replace("\n", " "), (args, result.stderr)
    with cli.open() as rt:
        assert db_snapshot(rt) == before


def test_import_then_export_round_trips(cli: CliEnv, tmp_path: Path) -> None:
    _setup(cli)
    source = tmp_path / "in.csv"
    source.write_text(
        "email,reason\n"
        "one@example.com,moved away\n"
        "bad address,typo\n"
        "theirs@example.com,\n"
        "calc@example.com,=1+1\n"
    )
    result = cli.invoke(["suppressions", "import", str(source), "--customer", "acme"])
    assert result.exit_code == 0, result.output
    assert "3 row(s): 3 suppressed, 0 already were, 1 skipped" in result.stdout
    assert "line 3" in result.stdout
    assert _stored(cli, "globex") == {"theirs@example.com": ("hard_bounce", "550 5.1.1")}
    exported = cli.invoke(["suppressions", "export", "--customer", "acme"])
    rows = list(csv.reader(io.StringIO(exported.stdout)))
    assert rows == [
        ["email", "reason"],
        ["calc@example.com", "'=1+1"],
        ["one@example.com", "moved away"],
        ["theirs@example.com", "imported"],
    ]
    out = tmp_path / "out.csv"
    written = cli.invoke(["suppressions", "export", "--customer", "globex", "-o", str(out)])
    assert "wrote 1 suppression(s)" in written.stdout
    assert out.read_bytes() == b"email,reason\r\ntheirs@example.com,550 5.1.1\r\n"


def test_a_malformed_file_writes_nothing(cli: CliEnv, tmp_path: Path) -> None:
    _setup(cli)
    with cli.open() as rt:
        before = db_snapshot(rt)
    for name, data in {
        "no-header.csv": b"one@example.com,x\n",
        "latin1.csv": "email,reason\nj\xf6rg@example.com,caf\xe9\n".encode("latin-1"),
        "quoting.csv": b'email,reason\none@example.com,"open\n',
    }.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = cli.invoke(["suppressions", "import", str(path), "--customer", "acme"])
        assert result.exit_code == 2, (name, result.output)
        assert "file:" in result.stderr, (name, result.stderr)
    with cli.open() as rt:
        assert db_snapshot(rt) == before
