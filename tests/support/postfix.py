"""A real Postfix on 127.0.0.1, with a config and queue directory of its own, for relay tests.

``running_postfix(...)`` installs Postfix from Debian when it is missing
(``ensure_postfix``), writes ``main.cf`` and ``master.cf`` into a directory of its
own (``etc/``, beside ``queue/``, ``data/`` and ``maillog``), starts it with
``postfix -c`` on a free loopback port, and stops and removes it after. The
machine's own Postfix configuration (``/etc/postfix``) is never read or changed,
and no system instance is started.

What it answers is what a real relay answers:

- ``mynetworks`` does not include 127.0.0.1, and relaying ends in
  ``reject_unauth_destination``, so a client without credentials sending to a
  domain outside ``relay_domains`` gets ``554 5.7.1 <rcpt>: Relay access denied``;
- ``refuse`` maps addresses to a ``check_recipient_access`` table (``texthash:``,
  no ``postmap`` needed): ``REJECT text`` answers ``554 5.7.1 <rcpt>: Recipient
  address rejected: text``;
- mail it does accept (for ``relay_domains``) is discarded, never sent on.

``extra`` adds or overrides ``main.cf`` settings, and ``services`` adds
``master.cf`` lines: a later test that wants STARTTLS and SASL passes
``smtpd_tls_*``/``smtpd_sasl_*`` settings here. Postfix's own log is
``Postfix.log()`` (``maillog_file``), which failures print.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live_process import free_port
from tests.support.loopback import HOST
from tests.support.services import REQUIRE_SERVICES

SBIN = Path("/usr/sbin")
DAEMONS = Path("/usr/lib/postfix/sbin")

# The daemons a relay that accepts, rejects and discards needs; nothing is chrooted,
# so no copy of /etc files has to be made inside the queue directory.
MASTER_CF = """\
{port}     inet  n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n - 0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n - - trivial-rewrite
bounce     unix  - - n - 0 bounce
defer      unix  - - n - 0 bounce
trace      unix  - - n - 0 bounce
verify     unix  - - n - 1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n - - proxymap
smtp       unix  - - n - - smtp
relay      unix  - - n - - smtp
showq      unix  n - n - - showq
error      unix  - - n - - error
retry      unix  - - n - - error
discard    unix  - - n - - discard
anvil      unix  - - n - 1 anvil
scache     unix  - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


class PostfixUnavailable(RuntimeError):
    """Postfix is not installed and could not be installed here."""


def _install() -> None:
    """``apt-get install postfix``, with ``apt-get update`` first only if that fails.

    The package is told to make no configuration of its own, so it neither writes
    /etc/postfix/main.cf nor starts a system instance.
    """
    if shutil.which("apt-get") is None:
        raise PostfixUnavailable("postfix is not installed, and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["debconf-set-selections"],
        input="postfix postfix/main_mailer_type select No configuration\n",
        text=True,
        check=False,
        capture_output=True,
    )
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postfix"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (SBIN / "postfix").exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PostfixUnavailable("apt-get install postfix failed: " + " / ".join(tail))


def ensure_postfix() -> None:
    """Install Postfix if missing; skip the test (fail it in CI) when that cannot be done."""
    if (SBIN / "postfix").exists() and (DAEMONS / "master").exists():
        return
    try:
        _install()
    except PostfixUnavailable as exc:
        if REQUIRE_SERVICES:
            pytest.fail(f"{exc}, and SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
        print(f"skipping: {exc}")
        pytest.skip(str(exc))


@dataclass
class Postfix:
    """One running instance: ``port`` is its SMTP listener on ``HOST``."""

    config_dir: Path
    port: int

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SBIN / "postfix"), "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def log(self) -> str:
        path = self.config_dir.parent / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""


def main_cf(root: Path, port: int, settings: Mapping[str, str]) -> str:
    queue = root / "queue"
    base = {
        "compatibility_level": "3.6",
        "queue_directory": str(queue),
        "data_directory": str(root / "data"),
        "command_directory": str(SBIN),
        "daemon_directory": str(DAEMONS),
        "meta_directory": "/etc/postfix",
        "shlib_directory": "/usr/lib/postfix",
        "mail_owner": "postfix",
        "setgid_group": "postdrop",
        "myhostname": "relay.postfix.test",
        "mydomain": "postfix.test",
        "myorigin": "$myhostname",
        "mydestination": "",
        "local_recipient_maps": "",
        "inet_interfaces": HOST,
        "inet_protocols": "ipv4",
        # Not 127.0.0.1: the test client is an outsider, as a relay's stranger is.
        "mynetworks": "192.0.2.0/24",
        "relay_domains": "",
        "smtpd_relay_restrictions": (
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
        ),
        "smtpd_recipient_restrictions": f"check_recipient_access texthash:{root}/recipient_access",
        "relay_transport": "discard:",
        "default_transport": "discard:",
        "maillog_file": str(root / "maillog"),
        "maillog_file_prefixes": str(root),
        "smtpd_banner": "$myhostname ESMTP",
        "biff": "no",
        "smtputf8_enable": "no",
        "smtpd_tls_security_level": "none",
        "smtp_dns_support_level": "disabled",
        "disable_dns_lookups": "yes",
        "smtpd_peername_lookup": "no",
        "master_service_disable": "",
    }
    lines = [f"{k} = {v}" for k, v in {**base, **settings}.items()]
    return "\n".join(lines) + "\n"


def _wait_for_port(port: int, instance: Postfix, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                if sock.recv(512).startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"postfix did not greet on {HOST}:{port}:\n{instance.log()[-3000:]}")


@contextmanager
def running_postfix(
    *,
    relay_domains: Sequence[str] = (),
    refuse: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
    services: Sequence[str] = (),
) -> Iterator[Postfix]:
    """A started Postfix relay; it is stopped, and its directory removed, when the block ends.

    ``refuse`` maps an address to an access action (``"REJECT Policy rejection"``).
    The directory is made here rather than under pytest's ``tmp_path``: Postfix's
    daemons run as the ``postfix`` user, who cannot enter pytest's private folders.
    """
    ensure_postfix()
    root = Path(tempfile.mkdtemp(prefix="sendpool-postfix-"))
    root.chmod(0o755)
    try:
        with _started(root, relay_domains, refuse or {}, extra or {}, services) as instance:
            yield instance
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _started(
    root: Path,
    relay_domains: Sequence[str],
    refuse: Mapping[str, str],
    extra: Mapping[str, str],
    services: Sequence[str],
) -> Iterator[Postfix]:
    etc = root / "etc"
    etc.mkdir()
    for name in ("queue", "data"):
        (root / name).mkdir()
    shutil.chown(root / "data", "postfix")
    port = free_port()
    table = "".join(f"{address} {action}\n" for address, action in refuse.items())
    (root / "recipient_access").write_text(table or "# nothing refused\n")
    settings = {"relay_domains": ", ".join(relay_domains), **extra}
    (etc / "main.cf").write_text(main_cf(root, port, settings))
    (etc / "master.cf").write_text(MASTER_CF.format(port=f"{HOST}:{port}") + "".join(services))
    instance = Postfix(etc, port)
    for step in (("check",), ("start",)):
        done = instance.postfix(*step)
        if done.returncode != 0:
            instance.postfix("stop")
            raise RuntimeError(f"postfix {step[0]} failed: {done.stderr}\n{instance.log()}")
    try:
        _wait_for_port(port, instance)
        yield instance
    finally:
        instance.postfix("stop")
