"""``sendpool admin``: create (prompted twice, or from stdin), list, unlock, passwords, sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select

from sendpool.services.access import sessions, throttle
from sendpool.store.tables import AdminSession, AdminUser
from tests.support.cli_env import CliEnv


def users(db: Path) -> list[tuple[str, str, int]]:
    with create_engine(f"sqlite:///{db}").connect() as c:
        rows = c.execute(select(AdminUser.email, AdminUser.password_hash, AdminUser.failed_logins))
        return [(r[0], r[1], r[2]) for r in rows]


def test_create_prompts_twice_and_stores_only_an_argon2_hash(cli: CliEnv) -> None:
    result = cli.invoke(
        ["admin", "create", "Ops@Example.com"], input="long enough pw\nlong enough pw\n"
    )
    assert result.exit_code == 0, result.output
    ((email, password_hash, _),) = users(cli.db)
    assert email == "ops@example.com"
    assert password_hash.startswith("$argon2id$") and "long enough pw" not in password_hash


def test_create_refuses_differing_short_or_taken_passwords_and_emails(cli: CliEnv) -> None:
    differ = cli.invoke(
        ["admin", "create", "a@example.com"], input="long enough 1\nlong enough 2\n"
    )
    assert differ.exit_code == 2 and "differ" in differ.output
    short = cli.invoke(["admin", "create", "a@example.com", "--password-stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 10" in short.output
    bad = cli.invoke(
        ["admin", "create", "not-an-email", "--password-stdin"], input="long enough pw\n"
    )
    assert bad.exit_code == 2 and "email" in bad.output
    assert users(cli.db) == []
    ok = cli.invoke(
        ["admin", "create", "a@example.com", "--password-stdin"], input="long enough pw\n"
    )
    assert ok.exit_code == 0, ok.output
    again = cli.invoke(
        ["admin", "create", "A@example.com", "--password-stdin"], input="long enough pw\n"
    )
    assert again.exit_code == 2 and "already exists" in again.output


def _open_sessions(cli: CliEnv, email: str, *addresses: str) -> None:
    """Sessions as signing in makes them, straight into the commands' database."""
    now = datetime.now(UTC)
    with cli.open() as rt:
        admin_id = rt.db.transaction(
            lambda c: c.execute(select(AdminUser.id).where(AdminUser.email == email)).scalar_one()
        )
        for address in addresses:
            rt.db.transaction(
                sessions.open_session,
                admin_id=admin_id,
                token=sessions.new_token(),
                client_address=address,
                user_agent="Firefox/140.0",
                now=now,
                limits=sessions.SessionLimits(),
            )


def revoked(db: Path) -> list[tuple[str, bool]]:
    with create_engine(f"sqlite:///{db}").connect() as c:
        rows = c.execute(
            select(AdminUser.email, AdminSession.revoked_at)
            .join(AdminUser, AdminUser.id == AdminSession.admin_id)
            .order_by(AdminSession.id)
        )
        return [(r[0], r[1] is not None) for r in rows]


def test_list_unlock_and_set_password(cli: CliEnv) -> None:
    cli.wide()
    cli.invoke(["admin", "create", "a@example.com", "--password-stdin"], input="long enough pw\n")
    with cli.open() as rt:
        for address in ("203.0.113.1", "203.0.113.2"):
            rt.db.transaction(throttle.record_failure, "a@example.com", address, datetime.now(UTC))
    _open_sessions(cli, "a@example.com", "192.0.2.1")
    listed = cli.invoke(["admin", "list"])
    assert listed.exit_code == 0, listed.output
    assert "a@example.com" in listed.output and "│ 2 " in listed.output  # failures
    assert cli.invoke(["admin", "unlock", "a@example.com"]).exit_code == 0
    assert "│ 0 " in cli.invoke(["admin", "list"]).output
    before = users(cli.db)[0][1]
    changed = cli.invoke(
        ["admin", "set-password", "a@example.com", "--password-stdin"], input="another long one\n"
    )
    assert changed.exit_code == 0, changed.output
    assert "sessions have ended" in changed.output
    assert users(cli.db)[0][1] != before
    assert revoked(cli.db) == [("a@example.com", True)]
    # The command's old name still works, for scripts written before.
    old_name = cli.invoke(
        ["admin", "password", "a@example.com", "--password-stdin"], input="a third long one\n"
    )
    assert old_name.exit_code == 0, old_name.output
    missing = cli.invoke(["admin", "unlock", "b@example.com"])
    assert missing.exit_code == 2 and "no admin user" in missing.output


def test_sessions_lists_and_logout_all_revokes_one_admins_sessions(cli: CliEnv) -> None:
    cli.wide()
    for email in ("a@example.com", "b@example.com"):
        cli.invoke(["admin", "create", email, "--password-stdin"], input="long enough pw\n")
    _open_sessions(cli, "a@example.com", "192.0.2.1", "192.0.2.2")
    _open_sessions(cli, "b@example.com", "198.51.100.7")
    listed = cli.invoke(["admin", "sessions"])
    assert listed.exit_code == 0, listed.output
    assert "3 session(s)" in listed.output
    assert all(a in listed.output for a in ("192.0.2.1", "192.0.2.2", "198.51.100.7"))
    assert "Firefox/140.0" in listed.output
    only_b = cli.invoke(["admin", "sessions", "b@example.com"])
    assert "1 session(s)" in only_b.output and "192.0.2.1" not in only_b.output

    ended = cli.invoke(["admin", "logout-all", "A@example.com"])
    assert ended.exit_code == 0, ended.output
    assert "2 session(s) ended" in ended.output
    assert revoked(cli.db) == [
        ("a@example.com", True), ("a@example.com", True), ("b@example.com", False)
    ]  # fmt: skip
    assert "1 session(s)" in cli.invoke(["admin", "sessions"]).output
    with_ended = cli.invoke(["admin", "sessions", "--all"])
    assert "3 session(s)" in with_ended.output and "signed out" in with_ended.output

    before = revoked(cli.db)
    for args in (["logout-all", "nobody@example.com"], ["sessions", "nobody@example.com"],
                 ["logout-all", "not an email"]):  # fmt: skip
        refused = cli.invoke(["admin", *args])
        assert refused.exit_code == 2, refused.output
    assert revoked(cli.db) == before
