"""The SQLite database and the key beside it are kept to their owner: mode 0600.

SQLite creates a missing database file 0644 (readable by every user of the
machine) and gives its -wal and -shm files the database file's mode; the file
holds people's addresses. The doctor reports an open file and changes nothing.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sendpool.config import Settings
from sendpool.runtime import Runtime
from sendpool.secretbox import key_file_for
from sendpool.services.operations.doctor_checks import Status, check_database, check_secrets
from sendpool.store.db import make_engine
from tests.support.cli_env import CliEnv
from tests.support.settings import make_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most machines run with (022), which leaves new files readable by all."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def db_file(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def wal_files(db: Path) -> list[Path]:
    return [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]


def opened_to_others(settings: Settings) -> Path:
    """A database made by an older sendpool: the file and its key, mode 0644."""
    Runtime.open(settings).close()
    db = db_file(settings)
    for path in (db, key_file_for(settings.database_url)):
        if path.exists():
            os.chmod(path, 0o644)
    return db


def test_a_new_database_and_its_wal_files_are_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", secret_key=None)
    with Runtime.open(settings) as rt:
        db = db_file(settings)
        # While a connection is open, WAL mode keeps both side files beside the database.
        with rt.db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM messages").all()
            assert all(p.exists() for p in wal_files(db))
            assert {p.name: mode(p) for p in [db, *wal_files(db)]} == {
                "sendpool.db": 0o600,
                "sendpool.db-wal": 0o600,
                "sendpool.db-shm": 0o600,
            }
    assert mode(key_file_for(settings.database_url)) == 0o600


def test_an_existing_open_database_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    db = opened_to_others(settings)
    key = key_file_for(settings.database_url)
    assert (mode(db), mode(key)) == (0o644, 0o644)
    with caplog.at_level(logging.WARNING, logger="sendpool.files"):
        Runtime.open(settings).close()
    assert (mode(db), mode(key)) == (0o600, 0o600)
    said = [r.getMessage() for r in caplog.records]
    assert f"database file {db} could be read by other users (mode 0644); it is now 0600" in said
    assert f"secret key file {key} could be read by other users (mode 0644); it is now 0600" in (
        said
    )


def test_side_files_left_open_are_made_private_too(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    url = f"sqlite:///{db}"
    make_engine(url).dispose()
    wal, shm = wal_files(db)
    for path in (db, wal, shm):  # as a process of an older sendpool would have left them
        path.touch()
        os.chmod(path, 0o664)
    make_engine(url).dispose()
    assert [mode(p) for p in (db, wal, shm)] == [0o600, 0o600, 0o600]


def test_memory_databases_touch_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite://", "sqlite:///:memory:"):
        engine = make_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        engine.dispose()
    assert list(tmp_path.iterdir()) == []


def test_the_doctor_reports_an_open_database_and_leaves_it_as_it_is(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = opened_to_others(settings)
    found, checks = check_database(settings)
    assert found is not None
    found.close()
    by_name = {c.name: c for c in checks}
    exposed = by_name["database file"]
    assert exposed.status is Status.WARN
    assert f"{db} (mode 0644)" in exposed.detail
    assert exposed.advice is not None and exposed.advice.startswith(f"chmod 600 {db}")
    assert by_name["schema"].status is Status.OK
    assert mode(db) == 0o644  # reported, not repaired: the doctor changes nothing


def test_a_private_database_gets_no_file_row(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    Runtime.open(settings).close()
    found, checks = check_database(settings)
    assert found is not None
    found.close()
    assert [c.name for c in checks] == ["database", "schema"]


def test_the_doctor_reports_an_open_key_file(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    opened_to_others(settings)
    key = key_file_for(settings.database_url)
    check, box = check_secrets(settings, None)
    assert box is not None and check.status is Status.WARN
    assert "readable by other users (mode 0644)" in check.detail
    assert check.advice is not None and check.advice.startswith(f"chmod 600 {key}")
    assert mode(key) == 0o644


def test_doctor_shows_the_chmod_to_run(cli: CliEnv) -> None:
    with cli.open():
        pass
    os.chmod(cli.db, 0o644)
    result = cli.wide().invoke(["doctor"])
    flat = " ".join(result.output.split())
    assert "database file │ warn" in flat or "database file warn" in flat, result.output
    assert f"chmod 600 {cli.db}" in flat
    assert mode(cli.db) == 0o644
