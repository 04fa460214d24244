"""One IMAP mailbox, blocking: log in, find unseen mail, read it without marking it, move it.

Built on the standard library's ``imaplib``: it is maintained with Python,
speaks IMAP4rev1 with IMAPS and STARTTLS, and adds no dependency; the few
calls sendpool needs (SEARCH, FETCH, MOVE or COPY/EXPUNGE) are one line each.
Its calls block, so ``mailboxes.py`` runs them with ``asyncio.to_thread``,
never on the event loop. Library errors become the three errors below, once,
here: a refused login, a dropped connection, anything else the server said.
"""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

TIMEOUT = 60.0  # seconds a single command may take before the connection counts as dropped

_SIZE = re.compile(rb"UID (\d+).*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*?UID (\d+)")


class ImapError(Exception):
    """The server refused a command, or answered what we could not read."""


class ImapLoginError(ImapError):
    """The server refused the username and password (or the TLS setup before them)."""


class ImapDropped(ImapError, ConnectionError):
    """The connection is gone (closed, reset, timed out): open a new one."""


@dataclass(frozen=True, slots=True)
class MailboxAddress:
    """Where a mailbox is and how to log in; ``encryption`` is none | starttls | tls."""

    host: str
    port: int
    username: str
    password: str
    encryption: str = "tls"
    folder: str = "INBOX"


def mailbox_name(name: str) -> str:
    """``name`` as an IMAP astring: modified UTF-7 (RFC 3501 §5.1.3), then quoted."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be"))
            out.append("&" + data.rstrip(b"=").replace(b"/", b",").decode() + "-")
            pending.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    text = "".join(out).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def uid_set(uids: Iterable[int]) -> str:
    return ",".join(str(u) for u in uids)


class ImapMailbox:
    """A logged-in connection with ``folder`` selected; every method may raise an ImapError."""

    def __init__(self, address: MailboxAddress, tls: ssl.SSLContext | None = None) -> None:
        self.address = address
        self._tls = tls or ssl.create_default_context()
        self._conn: imaplib.IMAP4 | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.uidvalidity: int | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _imap(self) -> imaplib.IMAP4:
        if self._conn is None:
            raise ImapDropped("not connected")
        return self._conn

    def open(self, processed: str) -> None:
        """Connect, log in, create ``processed`` if missing, select the folder."""
        a = self.address
        try:
            if a.encryption == "tls":
                self._conn = imaplib.IMAP4_SSL(
                    a.host, a.port, ssl_context=self._tls, timeout=TIMEOUT
                )
            else:
                self._conn = imaplib.IMAP4(a.host, a.port, timeout=TIMEOUT)
                if a.encryption == "starttls":
                    self._starttls(self._conn)
            self._conn.login(a.username, a.password)
        except ImapLoginError:
            self.close()
            raise
        except ssl.SSLError as exc:
            self.close()
            raise ImapLoginError(f"TLS with {a.host}:{a.port} failed: {exc}") from exc
        except imaplib.IMAP4.abort as exc:
            self.close()
            raise ImapDropped(f"{a.host}:{a.port} dropped the connection: {_said(exc)}") from exc
        except imaplib.IMAP4.error as exc:
            self.close()
            raise ImapLoginError(
                f"{a.host}:{a.port} refused the login of {a.username}: {_said(exc)}"
            ) from exc
        except OSError as exc:
            self.close()
            raise ImapDropped(f"cannot reach {a.host}:{a.port}: {exc}") from exc
        conn = self._conn
        self.capabilities = frozenset(
            str(c, "ascii", "replace").upper()
            for c in self._call("CAPABILITY", conn.capability)[-1].split()
        )
        self._ensure_folder(processed)
        self._call("SELECT", conn.select, mailbox_name(a.folder))
        values = [v for v in conn.response("UIDVALIDITY")[1] if v]
        self.uidvalidity = int(values[-1]) if values else None

    def _starttls(self, conn: imaplib.IMAP4) -> None:
        a = self.address
        if "STARTTLS" not in conn.capabilities:
            raise ImapLoginError(
                f"{a.host}:{a.port} does not offer STARTTLS: the password is not sent in "
                "clear; set the encryption to tls or none"
            )
        conn.starttls(self._tls)

    def _ensure_folder(self, name: str) -> None:
        conn = self._imap()
        quoted = mailbox_name(name)
        listed = self._call("LIST", conn.list, '""', quoted)
        if not any(item for item in listed if item):
            self._call("CREATE", conn.create, quoted)
            self._call("SUBSCRIBE", conn.subscribe, quoted)

    def noop(self) -> None:
        self._call("NOOP", self._imap().noop)

    def unseen(self) -> list[int]:
        """UIDs of the folder's unseen messages, oldest first."""
        data = self._call("UID SEARCH", self._imap().uid, "SEARCH", "UNSEEN")
        return sorted(int(u) for u in b" ".join(d for d in data if d).split())

    def sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """Each message's RFC822.SIZE, read before deciding whether to fetch it."""
        wanted = uid_set(uids)
        if not wanted:
            return {}
        data = self._call("UID FETCH", self._imap().uid, "FETCH", wanted, "(RFC822.SIZE)")
        out: dict[int, int] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            found = _SIZE.search(line) if isinstance(line, bytes) else None
            if found:
                uid, size = (
                    (found.group(1), found.group(2)) if found.group(1) else found.group(4, 3)
                )
                out[int(uid)] = int(size)
        return out

    def fetch(self, uid: int) -> bytes | None:
        """The whole message, read with BODY.PEEK[] so it stays unseen; None if it is gone."""
        data = self._call("UID FETCH", self._imap().uid, "FETCH", str(uid), "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def move(self, uid: int, folder: str) -> None:
        """MOVE (RFC 6851) where offered, else COPY, \\Deleted and UID EXPUNGE (RFC 4315)."""
        conn, target = self._imap(), mailbox_name(folder)
        if "MOVE" in self.capabilities:
            self._call("UID MOVE", conn.uid, "MOVE", str(uid), target)
            return
        if "UIDPLUS" not in self.capabilities:
            # A plain EXPUNGE would also remove mail someone else marked \Deleted.
            raise ImapError(
                f"{self.address.host} offers neither MOVE nor UIDPLUS: processed mail is "
                "left in place rather than expunging other mail"
            )
        self._call("UID COPY", conn.uid, "COPY", str(uid), target)
        self._call("UID STORE", conn.uid, "STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
        self._call("UID EXPUNGE", conn.uid, "EXPUNGE", str(uid))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            try:
                conn.shutdown()
            except OSError:
                pass

    def _call(self, what: str, command: object, *args: str) -> list[bytes]:
        """Run one command; OK gives its data, anything else an ImapError naming ``what``."""
        assert callable(command)
        try:
            typ, data = command(*args)
        except imaplib.IMAP4.abort as exc:
            self._forget()
            raise ImapDropped(f"{self.address.host} dropped the connection: {_said(exc)}") from exc
        except imaplib.IMAP4.error as exc:
            raise ImapError(f"{self.address.host} refused {what}: {_said(exc)}") from exc
        except (OSError, EOFError) as exc:
            self._forget()
            raise ImapDropped(f"{self.address.host} dropped the connection: {exc}") from exc
        if typ != "OK":
            said = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
            raise ImapError(f"{self.address.host} answered {typ} to {what}: {said[:300]}")
        return list(data)

    def _forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass


def _said(exc: BaseException) -> str:
    """What the server or the library said; imaplib passes the server's words as bytes."""
    said = exc.args[0] if exc.args else ""
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return text[:300] or exc.__class__.__name__
