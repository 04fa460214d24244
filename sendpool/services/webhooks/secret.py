"""Each vendor server's webhook URL, and the password some vendors send in it.

Postmark signs nothing, and an SNS subscription must not be confirmed for
whoever asks, so those URLs carry HTTP basic auth (``https://user:pass@host/...``,
as Postmark documents it). The password is derived from the secret key and the
server's uid, never stored: each server has its own, and rotating the secret
key changes them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

from sendpool.secretbox import WEBHOOK_PURPOSE, SecretBox

USER = "sendpool"
VENDORS = ("ses", "mailgun", "postmark", "sendgrid")
# Vendors whose URL carries the password: Postmark always needs it; SNS needs it to confirm.
WITH_PASSWORD = frozenset({"ses", "postmark"})


def password(box: SecretBox, server_uid: str) -> str:
    mac = hmac.new(box.derive(WEBHOOK_PURPOSE), server_uid.encode(), hashlib.sha256).digest()
    return base64.b32encode(mac).decode().rstrip("=").lower()[:32]


def credentials_ok(box: SecretBox, server_uid: str, given: tuple[str, str] | None) -> bool:
    """Whether basic auth names this server's password; a constant-time compare."""
    if given is None:
        return False
    user, secret = given
    expected = password(box, server_uid)
    same_user = hmac.compare_digest(user.encode(), USER.encode())
    return hmac.compare_digest(secret.encode(), expected.encode()) and same_user


def path(server_uid: str, vendor: str) -> str:
    return f"/api/v1/webhooks/{server_uid}/{vendor}"


def url(public_url: str, box: SecretBox, server_uid: str, vendor: str) -> str:
    """The URL to paste into the vendor's console (with the password where it needs one)."""
    parts = urlsplit(public_url.rstrip("/"))
    netloc = parts.netloc
    if vendor in WITH_PASSWORD:
        netloc = f"{USER}:{password(box, server_uid)}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path + path(server_uid, vendor), "", ""))


def shown(full_url: str) -> str:
    """The URL with its password masked, for logs and pages that do not reveal it."""
    parts = urlsplit(full_url)
    if parts.password is None:
        return full_url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"{USER}:…@{host}", parts.path, "", ""))
