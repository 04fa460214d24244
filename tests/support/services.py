"""The machine's services: reachability checks, per-test PostgreSQL databases, private Redis.

The machine's PostgreSQL and Redis are shared with other people's test runs:
every test here gets a database of its own (CREATE DATABASE ... TEMPLATE is a
file copy, far quicker than migrating), and Redis tests talk to a redis-server
this module starts on a free loopback port, so the shared one is never
flushed or restarted.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from sendpool.store.db import make_engine, migrate, normalise_url
from tests.support.live_process import free_port

REQUIRE_SERVICES = os.environ.get("SENDPOOL_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("SENDPOOL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SENDPOOL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip with the reason printed, unless CI says the service must be there."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(message)


def _admin(url: str) -> Engine:
    return create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")


def database_url(name: str, base: str = PG_URL) -> str:
    return make_url(base).set(database=name).render_as_string(hide_password=False)


class PgDatabases:
    """Fresh databases cloned from one template that is migrated once per session."""

    def __init__(self, base: str = PG_URL) -> None:
        u = make_url(normalise_url(base))
        require_service("PostgreSQL", u.host or "127.0.0.1", u.port or 5432)
        self.base = base
        self.tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"sendpool_tpl_{self.tag}"
        self.admin = _admin(base)
        self._execute(f'CREATE DATABASE "{self.template}"')
        engine = make_engine(database_url(self.template, base))
        try:
            migrate(engine)
        finally:
            engine.dispose()

    def _execute(self, sql: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(sql))

    def create(self, *, migrated: bool = True) -> str:
        name = f"sendpool_t_{self.tag}_{uuid.uuid4().hex[:8]}"
        template = self.template if migrated else "template0"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return database_url(name, self.base)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        message = "redis-server is not installed, so no private Redis can be started"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}, and SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(message)
    return found


class PrivateRedis:
    """A redis-server of our own on 127.0.0.1, without persistence, that tests may restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> PrivateRedis:
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        self.starts += 1
                        return self
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        """Kill it (nothing is saved) and start a new, empty server on the same port."""
        self.stop()
        time.sleep(down_for)
        self.start()


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(redis_server_binary(), workdir).start()
    try:
        yield server
    finally:
        server.stop()
