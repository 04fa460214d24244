"""``sendpool admin``: create admin users (prompted twice, or from stdin), list, unlock."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select, update

from sendpool.store.tables import AdminUser, table
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


def test_list_unlock_and_password(cli: CliEnv) -> None:
    cli.invoke(["admin", "create", "a@example.com", "--password-stdin"], input="long enough pw\n")
    with create_engine(f"sqlite:///{cli.db}").begin() as c:
        c.execute(update(table(AdminUser)).values(failed_logins=5))
    listed = cli.invoke(["admin", "list"])
    assert listed.exit_code == 0 and "a@example.com" in listed.output
    assert cli.invoke(["admin", "unlock", "a@example.com"]).exit_code == 0
    assert users(cli.db)[0][2] == 0
    before = users(cli.db)[0][1]
    changed = cli.invoke(
        ["admin", "password", "a@example.com", "--password-stdin"], input="another long one\n"
    )
    assert changed.exit_code == 0, changed.output
    assert users(cli.db)[0][1] != before
    missing = cli.invoke(["admin", "unlock", "b@example.com"])
    assert missing.exit_code == 2 and "no admin user" in missing.output
