"""A real Dovecot IMAP server on 127.0.0.1, with a config, users and maildirs of its own.

``running_dovecot(...)`` installs Debian's ``dovecot-imapd`` when it is missing
(``ensure_dovecot``), writes ``dovecot.conf`` and a passwd-file into a
directory of its own (``etc/``, beside ``run/``, ``mail/`` and ``dovecot.log``),
starts ``dovecot -F -c`` on a free loopback port, and stops it and removes
the directory after. The machine's own configuration (``/etc/dovecot``) is
never read or changed, and no system instance is started.

IMAP on the port is plain text with plain-text logins allowed (loopback only),
and Dovecot offers MOVE and UIDPLUS as a modern server does. Mail is put in and
looked at through IMAP itself (``append``, ``messages``), as another client of
the mailbox would. ``restart()`` stops the server, which drops every client
connection, and starts it again on the same port.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sendpool.services.inbound.imap_client import mailbox_name
from tests.support.live_process import free_port
from tests.support.loopback import HOST
from tests.support.services import REQUIRE_SERVICES

DOVECOT = Path("/usr/sbin/dovecot")
PACKAGE = "dovecot-imapd"

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks =
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_privileged_group =
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/etc/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/etc/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed and could not be installed here."""


def _install() -> None:
    """``apt-get install dovecot-imapd``, with ``apt-get update`` first only if that fails."""
    if shutil.which("apt-get") is None:
        raise DovecotUnavailable(f"{PACKAGE} is not installed, and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", PACKAGE]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not DOVECOT.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DovecotUnavailable(f"apt-get install {PACKAGE} failed: " + " / ".join(tail))


def ensure_dovecot() -> None:
    """Install Dovecot if missing; skip the test (fail it in CI) when that cannot be done."""
    if DOVECOT.exists():
        return
    try:
        _install()
    except DovecotUnavailable as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"{exc}, and SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
        print(f"skipping: {exc}")
        pytest.skip(str(exc))


def _mail_owner() -> tuple[int, int, str, str]:
    """(uid, gid) mail is kept as, and the users Dovecot's own processes run as.

    As root: Dovecot refuses mail access as uid 0, so mail belongs to ``nobody``
    and the daemons use the package's ``dovenull``/``dovecot`` users. As anyone
    else: everything runs as that user.
    """
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid, "dovenull", "dovecot"
    me = pwd.getpwuid(os.geteuid())
    return me.pw_uid, me.pw_gid, me.pw_name, me.pw_name


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc: no extra tool needed)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


@dataclass
class Dovecot:
    """One running instance: IMAP on ``HOST``:``port``; ``users`` maps names to passwords."""

    root: Path
    port: int
    users: Mapping[str, str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "dovecot.conf"

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        with open(self.root / "stderr.log", "ab") as stderr:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.conf)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 20  # a hang guard for a slow machine, not a speed check
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    if sock.recv(512).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        stderr = (self.root / "stderr.log").read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"dovecot did not greet on {HOST}:{self.port}:\n{stderr}\n{self.log()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # The master leaves its logged-in imap processes running when it stops; a restart
        # that should drop every client ends them too, as a crash or a reboot would.
        children = _children(proc.pid)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop (every IMAP connection is dropped) and start again on the same port."""
        self.stop()
        self.start()

    @contextmanager
    def client(self, user: str) -> Iterator[imaplib.IMAP4]:
        conn = imaplib.IMAP4(HOST, self.port, timeout=30)
        try:
            conn.login(user, self.users[user])
            yield conn
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        with self.client(user) as conn:
            typ, data = conn.append(mailbox_name(folder), flags or None, None, raw)
            assert typ == "OK", data

    def messages(self, user: str, folder: str = "INBOX") -> list[tuple[set[str], bytes]]:
        """Each message in ``folder`` as (its flags, its bytes), read without changing flags."""
        with self.client(user) as conn:
            typ, data = conn.select(mailbox_name(folder), readonly=True)
            if typ != "OK":
                return []
            typ, found = conn.uid("SEARCH", "ALL")
            out = []
            for uid in (found[0] or b"").split():
                typ, parts = conn.uid("FETCH", uid.decode(), "(FLAGS BODY.PEEK[])")
                head, body = parts[0]
                flags = head.split(b"FLAGS (", 1)[1].split(b")", 1)[0].decode().split()
                out.append((set(flags), body))
            return out

    def folders(self, user: str) -> list[str]:
        with self.client(user) as conn:
            typ, data = conn.list()
            # (\HasNoChildren) "." "sendpool-processed": the name is what follows the delimiter
            names = (d.decode().split(") ", 1)[1].split(" ", 1)[1] for d in data if d)
            return [name.strip('"') for name in names]


@contextmanager
def running_dovecot(
    users: Mapping[str, str] | None = None, *, extra: str = ""
) -> Iterator[Dovecot]:
    """A started Dovecot; it is stopped, and its directory removed, when the block ends.

    ``extra`` is appended to ``dovecot.conf`` (``imap_capability = ...`` makes a
    server that offers less).

    The directory is made here rather than under pytest's ``tmp_path``: Dovecot's
    mail processes run as another user, who cannot enter pytest's private folders.
    """
    ensure_dovecot()
    users = dict(users or {"bounces": "s3cret-bounces"})
    root = Path(tempfile.mkdtemp(prefix="sendpool-dovecot-"))
    root.chmod(0o755)
    uid, gid, login_user, internal_user = _mail_owner()
    try:
        for name in ("etc", "run", "state", "mail"):
            (root / name).mkdir()
        os.chown(root / "mail", uid, gid)
        lines = [f"{u}:{{PLAIN}}{p}:{uid}:{gid}::{root}/mail/{u}::\n" for u, p in users.items()]
        (root / "etc" / "passwd").write_text("".join(lines))
        port = free_port()
        conf = CONF.format(
            root=root, host=HOST, port=port, login_user=login_user, internal_user=internal_user
        )
        (root / "etc" / "dovecot.conf").write_text(conf + extra + "\n")
        instance = Dovecot(root, port, users)
        instance.start()
        try:
            yield instance
        finally:
            instance.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
