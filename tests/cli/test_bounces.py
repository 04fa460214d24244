"""``sendpool bounces`` and the doctor's return-rate lines, as an operator runs them."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from sendpool.core.return_path import TOKEN_HEADER, make_token
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.servers import commands as server_commands
from sendpool.services.tenancy import customers, sending_domains
from sendpool.store.tables import DeliveryEvent, Message, SendingServer, table
from tests.support.cli_env import CliEnv
from tests.support.report_mail import Rcpt, dsn, human_mail
from tests.support.settings import make_settings
from tests.support.snapshots import db_snapshot
from tests.support.world import server_fields

CORPUS = Path(__file__).parent.parent / "corpus" / "reports"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Sent:
    uid: str
    id: int
    token: str


def _sent_message(rt: Runtime, to: str = "gone@example.com") -> Sent:
    """A message sent through relay-a for customer acme, and its real return-path token."""

    def make(conn: Connection) -> Sent:
        if conn.execute(table(SendingServer).select()).first() is None:
            fields = server_fields("smtp", "relay-a")
            server_commands.create_server(conn, rt.box, fields=fields, actor="t", now=NOW)
            customers.create_customer(conn, fields={"name": "acme"}, actor="t", now=NOW)
            sending_domains.add_domain(conn, "acme", "acme.example", actor="t", now=NOW)
        uid = enqueue_transactional(
            conn, customer_id=refs.customer_id(conn, "acme"), to=to, subject="Hi",
            from_email="news@acme.example", text="Hello", now=NOW,
        )  # fmt: skip
        M = table(Message)
        conn.execute(
            update(M)
            .where(M.c.uid == uid)
            .values(status="sent", server_id=refs.server_id(conn, "relay-a"), sent_at=NOW)
        )
        message_id = int(conn.execute(M.select().where(M.c.uid == uid)).one().id)
        return Sent(uid, message_id, make_token(message_id, rt.box.derive(b"return-path")))

    return rt.db.transaction(make)


def _classify(cli: CliEnv, *files: Path) -> tuple[int, list[dict[str, Any]]]:
    result = cli.invoke(["bounces", "classify", "--json", *map(str, files)])
    return result.exit_code, json.loads(result.stdout)


def test_a_dsn_for_our_message_is_traced_to_it_and_nothing_changes(
    cli: CliEnv, tmp_path: Path
) -> None:
    with cli.open() as rt:
        sent = _sent_message(rt)
        before = db_snapshot(rt)
    headers = f"From: news@acme.example\nTo: gone@example.com\n{TOKEN_HEADER}: {sent.token}\n"
    hard = tmp_path / "hard.eml"
    hard.write_bytes(
        dsn(None, [Rcpt("gone@example.com", "5.1.1", diagnostic="550 5.1.1 unknown")],
            envid=sent.token, returned_headers=headers)
    )  # fmt: skip
    code, [out] = _classify(cli, hard)
    assert code == 0
    assert (out["class"], out["format"], out["status"]) == ("hard", "dsn", ["5.1.1"])
    assert [r["recipient"] for r in out["recipients"]] == ["gone@example.com"]
    assert (out["token"], out["message_uid"], out["server"]) == ("verified", sent.uid, "relay-a")
    assert out["customer"] == "acme" and out["reported_by"] == "mx.example.net"
    table_out = cli.wide().invoke(["bounces", "classify", str(hard)])
    assert table_out.exit_code == 0
    assert sent.uid in table_out.stdout and "relay-a" in table_out.stdout
    with cli.open() as rt:
        assert db_snapshot(rt) == before


def test_forged_tokens_name_no_message(cli: CliEnv, tmp_path: Path) -> None:
    with cli.open() as rt:
        sent = _sent_message(rt)
    forged = tmp_path / "forged.eml"
    other_key = make_token(sent.id, b"someone else's key, guessing ids")
    forged.write_bytes(dsn(None, [Rcpt("gone@example.com", "5.1.1")], envid=other_key))
    tampered = tmp_path / "tampered.eml"
    tampered.write_bytes(dsn(None, [Rcpt("x@example.com", "5.1.1")], envid=sent.token[:-2] + "aa"))
    code, outs = _classify(cli, forged, tampered)
    assert code == 0
    for out in outs:
        assert (out["class"], out["token"], out["message_uid"]) == ("hard", "forged", None)


def test_the_whole_corpus_gets_the_expected_class(cli: CliEnv) -> None:
    expected = tomllib.loads((CORPUS / "expected.toml").read_text())
    files = sorted(CORPUS / name for name in expected)
    assert len(files) >= 20
    assert cli.invoke(["migrate"]).exit_code == 0
    code, outs = _classify(cli, *files)
    assert code == 0
    for path, out in zip(files, outs, strict=True):
        want = expected[path.name]
        got = (out["class"], out["format"], [r["recipient"] for r in out["recipients"]])
        assert got == (want["kind"], want["format"], want["recipients"]), path.name
        # Made with the corpus's own key, never with this database's: nothing is traced.
        assert out["message_uid"] is None, path.name
        assert out["token"] == ("forged" if "message_id" in want else out["token"]), path.name


def test_unreadable_files_are_reported_each_and_fail_at_the_end(
    cli: CliEnv, tmp_path: Path
) -> None:
    human = tmp_path / "human.eml"
    human.write_bytes(human_mail())
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = cli.wide().invoke(
        ["bounces", "classify", str(tmp_path / "missing.eml"), str(human), str(folder)]
    )
    assert result.exit_code == 1
    assert "missing.eml" in result.stderr and "a-folder" in result.stderr
    assert "2 of 3 file(s) could not be read" in result.stderr
    assert "not_a_report" in result.stdout
    code, outs = _classify(cli, human, tmp_path / "missing.eml")
    assert code == 1
    assert outs[0]["class"] == "not_a_report" and outs[0]["token"] == "none"
    assert "cannot read" in outs[1]["error"]


def test_without_a_database_it_still_classifies_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    env = CliEnv(monkeypatch, make_settings(tmp_path / "unused"))
    env.setenv("SENDPOOL_DATABASE_URL", f"sqlite:///{tmp_path}/absent.db")
    monkeypatch.delenv("SENDPOOL_SECRET_KEY", raising=False)
    result = env.invoke(
        ["bounces", "classify", "--json", str(CORPUS / "gmail_5_1_1_no_such_user.eml")]
    )
    assert result.exit_code == 0, result.output
    [out] = json.loads(result.stdout)
    assert (out["class"], out["message_uid"]) == ("hard", None)
    assert out["token"] == "unchecked" and "does not exist" in out["note"]
    assert "not traced" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _events(rt: Runtime, n: int, kind: str, **values: Any) -> None:
    def add(conn: Connection) -> None:
        server_id = refs.server_id(conn, "relay-a")
        conn.execute(
            table(DeliveryEvent).insert(),
            [
                {"server_id": server_id, "kind": kind, "created_at": NOW - timedelta(minutes=i),
                 "recipient": f"r{i}@example.net", "status_code": "5.1.1",
                 "reported_by": "mx.example.net", "dedup_key": f"{kind}-{i}", **values}
                for i in range(n)
            ],
        )  # fmt: skip

    rt.db.transaction(add)


def test_list_shows_filters_and_refuses_unknown_ones(cli: CliEnv) -> None:
    with cli.open() as rt:
        _sent_message(rt)
        _events(rt, 3, "hard_bounce")
        _events(rt, 2, "complaint", created_at=NOW - timedelta(days=3))
    result = cli.invoke(["bounces", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["kind"] for r in rows] == ["hard_bounce"] * 3 + ["complaint"] * 2
    assert rows[0]["server_name"] == "relay-a" and rows[0]["recipient"] == "r0@example.net"
    recent = json.loads(cli.invoke(["bounces", "list", "--since", "24h", "--json"]).stdout)
    assert len(recent) == 3
    older = json.loads(cli.invoke(["bounces", "list", "--kind", "complaint", "--json"]).stdout)
    assert len(older) == 2
    iso = (NOW - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    args = ["bounces", "list", "--server", "RELAY-A", "--since", iso, "--limit", "4", "--json"]
    assert len(json.loads(cli.invoke(args).stdout)) == 4
    shown = cli.wide().invoke(["bounces", "list"])
    assert "r0@example.net" in shown.stdout and "mx.example.net" in shown.stdout
    for args, field in (
        (["--server", "nope"], "server"),
        (["--kind", "bogus"], "kind"),
        (["--since", "last week"], "since"),
        (["--customer", "nobody"], "customer"),
    ):
        bad = cli.invoke(["bounces", "list", *args])
        assert bad.exit_code == 2, bad.output
        assert f"{field}:" in bad.stderr


def test_doctor_warns_near_the_thresholds_and_on_a_paused_server(cli: CliEnv) -> None:
    cli.setenv("SENDPOOL_BOUNCE_MIN_VOLUME", "10")
    with cli.open() as rt:
        sent = [_sent_message(rt, f"p{i}@example.com") for i in range(10)]
    with cli.open() as rt:
        # 1 bounce in 10 sends: 10 %, over the 5 % pause; complaints none.
        _events(rt, 1, "hard_bounce", message_id=sent[0].id, sent_at=NOW)
    result = cli.wide().invoke(["doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    line = checks["returns relay-a"]
    assert line["status"] == "warn"
    assert "bounce rate 10 % is within 20 % of the pause at 5 %" in line["detail"]
    cli.setenv("SENDPOOL_BOUNCE_MIN_VOLUME", "11")
    quiet = json.loads(cli.invoke(["doctor", "--json"]).stdout)["checks"]
    assert "returns relay-a" not in {c["name"] for c in quiet}  # under the minimum volume
    with cli.open() as rt:
        rt.db.transaction(
            lambda c: c.execute(
                update(SendingServer).values(
                    status="paused", status_reason="bounce rate 10.0 % over 10 sends"
                )
            )
        )
    paused = {c["name"]: c for c in json.loads(cli.invoke(["doctor", "--json"]).stdout)["checks"]}
    assert paused["returns relay-a"]["status"] == "warn"
    assert paused["returns relay-a"]["detail"].startswith(
        "paused: bounce rate 10.0 % over 10 sends"
    )
