"""What every vendor reached over HTTP shares: one pooled client, and its failures mapped once.

A vendor module knows its payload and its error body; this module knows what an
HTTP status means for the pipeline (docs/design.md §1) and turns httpx's errors into an
outcome in one place, with the transport's secrets scrubbed from every text.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Generator, Iterable, Mapping
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage
from sendpool.core.policy_replies import from_text
from sendpool.errors import SendpoolError
from sendpool.transports.spec import ServerSpec


class VendorUnreachableError(SendpoolError, ConnectionError):
    """No HTTP answer at all (refused, reset, timed out): the server failed, not the message."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.describe())
        self.outcome = outcome


# Errors that can only come once the request was written: the answer is what was lost.
LOST_ANSWERS = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


def check_base_url(value: str) -> str:
    """Credentials travel in headers, so plain http is only allowed to this machine."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or a fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("must use https (plain http is only allowed to localhost)")
    return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def classify_status(status: int, *, about_recipient: bool = False) -> tuple[OutcomeKind, Stage]:
    """The class of a vendor's HTTP answer to a send (RFC 9110 §15 for the status classes)."""
    if 200 <= status < 300:
        return OutcomeKind.ACCEPTED, Stage.API
    if status == 429:
        # RFC 6585 §4: the vendor is at capacity for us; the message waits.
        return OutcomeKind.THROTTLED, Stage.API
    if status in (401, 403) or status >= 500:
        # Bad credentials or a vendor outage: another server should take the message.
        return OutcomeKind.SERVER_FAILURE, Stage.API
    if status in (404, 408):
        # 404 on a send endpoint is a wrong domain, region or URL in the server's own
        # settings, and 408 is the vendor giving up on us: neither is the message's
        # fault, and failing it would fail every message this server is given.
        return OutcomeKind.SERVER_FAILURE, Stage.API
    if status in (400, 422) and about_recipient:
        return OutcomeKind.PERMANENT, Stage.RCPT
    if 400 <= status < 500:
        return OutcomeKind.PERMANENT, Stage.API
    # 1xx or 3xx where a final answer belongs: the endpoint misbehaves.
    return OutcomeKind.SERVER_FAILURE, Stage.API


# What vendors say when this account or its sender may not send: Mailgun's "Domain
# ... is not allowed to send", SES's "not authorized to send from", SendGrid's "does
# not match a verified Sender Identity", Postmark's "Sender Signature not found".
_SENDER_REFUSALS = (
    "not allowed to send",
    "not authorized to send",
    "sender identity",
    "sender signature",
    "account is disabled",
    "account has been disabled",
)


def about_sender(text: str) -> bool:
    """Whether a vendor's refusal is about our account, sender or reputation (docs/design.md §1.5).

    Such a refusal is the server's failure, like an SMTP X.7 reply: suppressing
    the recipient for it, or failing the message, would punish the wrong party.
    """
    low = text.lower()
    return from_text(low) is not None or any(r in low for r in _SENDER_REFUSALS)


def names_recipient(text: str, recipient: str, markers: Iterable[str] = ()) -> bool:
    """Whether a vendor's complaint is about the recipient address rather than the request."""
    low = text.lower()
    return (bool(recipient) and recipient.lower() in low) or any(m in low for m in markers)


def from_parts(from_header: str, fallback: str) -> tuple[str, str]:
    """Display name (RFC 2047 words decoded) and address: JSON APIs take them apart."""
    name, address = parseaddr(from_header)
    try:
        name = str(make_header(decode_header(name))) if name else ""
    except (HeaderParseError, LookupError, UnicodeDecodeError):
        pass
    return name, address or fallback


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds to wait from ``Retry-After`` (RFC 9110 §10.2.3) or an epoch ``X-RateLimit-Reset``."""
    value = (headers.get("retry-after") or "").strip()
    if value.isdigit():
        return float(value)
    if value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, (when - now).total_seconds())
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if reset.isdigit():
        return max(0.0, int(reset) - now.timestamp())
    return None


class HeaderAuth(httpx.Auth):
    """Adds one credential header per request; the value never shows in a repr."""

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = SecretStr(value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._name] = self._value.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return f"HeaderAuth({self._name!r}, '***')"


def basic_auth(user: str, password: str) -> tuple[HeaderAuth, str]:
    """The auth and the encoded token, which must be scrubbed from texts like the password."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return HeaderAuth("Authorization", f"Basic {token}"), token


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


class VendorHttp:
    """One vendor endpoint: a pooled client made on first use, reused until ``close``."""

    def __init__(
        self, spec: ServerSpec, base_url: str, auth: httpx.Auth, secrets: Iterable[str]
    ) -> None:
        self.spec = spec
        self.base_url = base_url
        self._auth = auth
        self._secrets = tuple(SecretStr(s) for s in secrets if s)
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"VendorHttp({self.base_url!r})"

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            size = max(1, self.spec.max_connections)
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                auth=self._auth,
                timeout=httpx.Timeout(self.spec.timeout),
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                headers={"Accept": "application/json", "User-Agent": "sendpool"},
                follow_redirects=False,
            )
        return self._client

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._get_client().request(method, path, **kwargs)
        except (httpx.HTTPError, UnicodeEncodeError) as exc:
            # UnicodeEncodeError: a key with characters no HTTP header can carry.
            text = self.redact(f"{type(exc).__name__}: {exc}".rstrip(": "))
            kind = OutcomeKind.SERVER_FAILURE
            if method == "POST" and isinstance(exc, LOST_ANSWERS):
                # The request went out whole and no answer came: the vendor may
                # have accepted the message (RFC 1047's problem, over HTTP).
                kind = OutcomeKind.UNKNOWN
            failure = Outcome(kind, Stage.API, None, None, text)
            raise VendorUnreachableError(failure) from exc

    def redact(self, text: str) -> str:
        return redact(text, (s.get_secret_value() for s in self._secrets))

    def outcome(
        self,
        response: httpx.Response,
        text: str,
        *,
        about_recipient: bool = False,
        classified: tuple[OutcomeKind, Stage] | None = None,
    ) -> Outcome:
        """A failed answer as an outcome; throttling carries the vendor's advice on when to retry.

        ``classified`` is a vendor's own reading of its error body, when it has one.
        """
        kind, stage = classified or classify_status(
            response.status_code, about_recipient=about_recipient
        )
        if kind is OutcomeKind.PERMANENT and stage is not Stage.RCPT and about_sender(text):
            kind, stage = OutcomeKind.SERVER_FAILURE, Stage.API
        wait = None
        if kind is OutcomeKind.THROTTLED:
            wait = retry_after(response.headers, datetime.now(UTC))
        text = self.redact(text or response.reason_phrase)
        return Outcome(kind, stage, response.status_code, None, text, None, wait)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or empty: vendors answer some errors in plain text or HTML."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def short_text(response: httpx.Response, limit: int = 300) -> str:
    """A plain-text body cut to a length an operator can read in a log line."""
    text = " ".join(response.text.split())
    return text[:limit] + ("..." if len(text) > limit else "")
