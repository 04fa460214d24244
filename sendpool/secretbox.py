"""Secrets at rest: server passwords and API keys are stored Fernet-encrypted.

The key comes from SENDPOOL_SECRET_KEY or, on the embedded default, from a
file created once beside the database with mode 0600. The SQLite database
holds people's addresses, so its files are kept to their owner as well
(``create_private``, ``make_private``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sendpool.errors import ConfigError

PRIVATE_MODE = 0o600
OTHERS = 0o077  # any access for the group or the rest of the world

log = logging.getLogger("sendpool.files")


def open_to_others(path: Path) -> int | None:
    """The file's mode when its group or others may use it; None when private or absent."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    return mode if mode & OTHERS else None


def create_private(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True when this call made it.

    Programs that create the file afterwards (SQLite, on first connect) keep the
    mode it already has; whatever the umask, os.open never widens 0600.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def make_private(path: Path, what: str) -> None:
    """Take the group's and others' access to an existing file away, and log that it was open."""
    mode = open_to_others(path)
    if mode is None:
        return
    try:
        os.chmod(path, mode & ~OTHERS)
    except OSError as exc:
        log.warning(
            "%s %s can be read by other users (mode %04o) and could not be made private (%s): "
            "run `chmod 600 %s` as its owner",
            what,
            path,
            mode,
            exc.strerror,
            path,
        )
        return
    log.warning(
        "%s %s could be read by other users (mode %04o); it is now %04o",
        what,
        path,
        mode,
        mode & ~OTHERS,
    )


# Bytes of a key derive() hands out: HMAC-SHA256's block-sized key, more than it needs.
DERIVED_KEY_BYTES = 32
# The purpose of the key that signs return-path tokens (docs/design.md §6): the sender
# makes them with it and the inbound side checks them with it, so both derive this one.
RETURN_PATH_PURPOSE = b"return-path"
# The purpose of the key that signs unsubscribe tokens (List-Unsubscribe URL and mailto).
UNSUBSCRIBE_PURPOSE = b"unsubscribe"
# The purpose of the key each server's webhook password is made from (Postmark's and
# SNS's basic auth in the URL): derived, so no password is stored, and each server's differs.
WEBHOOK_PURPOSE = b"webhook basic auth"
# Fixed, so a key derived today is the same key tomorrow on every machine (RFC 5869 §3.1).
_HKDF_SALT = b"sendpool derived keys v1"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
            # The key's 32 bytes, as Fernet reads them: what derive() starts from.
            self._key = base64.urlsafe_b64decode(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "SENDPOOL_SECRET_KEY is not a valid Fernet key; "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def derive(self, purpose: bytes) -> bytes:
        """A key of its own for ``purpose`` (HKDF-SHA256, RFC 5869) from the secret key.

        Another use of the secret key (the return path's MAC, say) never gets the
        Fernet key itself: a key that leaks from one use opens nothing of another.
        """
        if not purpose:
            raise ValueError("a derived key needs a purpose")
        hkdf = HKDF(
            algorithm=hashes.SHA256(), length=DERIVED_KEY_BYTES, salt=_HKDF_SALT, info=purpose
        )
        return hkdf.derive(self._key)

    def seal(self, secrets: Mapping[str, str]) -> str | None:
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(dict(secrets)).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ConfigError(
                "stored secrets cannot be decrypted with this key: "
                "was SENDPOOL_SECRET_KEY changed or the key file replaced?"
            ) from exc
        return {str(k): str(v) for k, v in data.items()}


def key_file_for(database_url: str) -> Path:
    """Beside the SQLite file, or in the working folder for a server database."""
    if database_url.startswith("sqlite:///") and not database_url.endswith(":memory:"):
        db = Path(database_url.removeprefix("sqlite:///"))
        return db.with_name(db.name + ".key")
    return Path("sendpool.key")


def load_box(secret_key: str | None, database_url: str) -> SecretBox:
    if secret_key:
        return SecretBox(secret_key.encode())
    path = key_file_for(database_url)
    if path.exists():
        make_private(path, "secret key file")
        return SecretBox(path.read_bytes().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return SecretBox(key)
