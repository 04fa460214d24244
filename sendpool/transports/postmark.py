"""Postmark's Email API: one JSON ``POST /email`` per message, on one message stream.

Postmark names every refusal with an ``ErrorCode`` (documented in its API
overview); the code, not the HTTP status, says whose fault a refusal is.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.return_path import TOKEN_HEADER as RETURN_TOKEN_HEADER
from sendpool.core.webhooks.events import METADATA_KEY
from sendpool.transports.base import Health
from sendpool.transports.http_vendor import (
    HeaderAuth,
    VendorHttp,
    VendorUnreachableError,
    check_base_url,
    classify_status,
    from_parts,
    json_body,
    names_recipient,
    short_text,
)
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.spec import ServerSpec
from sendpool.transports.text_checks import OneLine

BASE_URL = "https://api.postmarkapp.com"
TOKEN_HEADER = "X-Postmark-Server-Token"

# The token is wrong, Postmark is down for maintenance, or the account may not send
# (405 out of credits, 412 pending approval, 413 may not send): another server must.
_SERVER_CODES = frozenset({10, 100, 405, 412, 413})
# 400 sender signature not found, 401 not confirmed: this server may not send for that
# From, like an SMTP 5.7.1 to MAIL FROM (docs/design.md §1.5). Another server, whose
# account has the signature, may; the message waits for it, the recipient is not
# suppressed, and the server is degraded so that doctor shows why.
_SENDER_CODES = frozenset({400, 401})
# 406: the recipient hard-bounced, complained or was suppressed on Postmark before.
_RECIPIENT_CODES = frozenset({406})
_RATE_LIMITED = 429
_INVALID_REQUEST = 300  # also "Invalid 'To' address: ..." for a malformed recipient


class PostmarkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Postmark stream ids: lower-case letters, digits and hyphens ("outbound", "broadcast").
    message_stream: str = Field(
        "outbound", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$"
    )
    base_url: OneLine | None = None  # urlsplit drops CR LF silently: refused first

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)


POSTMARK_SECRETS = ("server_token",)


def classify_postmark(
    error_code: int | None, status: int, *, about_recipient: bool
) -> tuple[OutcomeKind, Stage]:
    """The class of a Postmark refusal, from its ErrorCode first and its HTTP status else."""
    if error_code in _SERVER_CODES:
        return OutcomeKind.SERVER_FAILURE, Stage.API
    if error_code == _RATE_LIMITED:
        return OutcomeKind.THROTTLED, Stage.API
    if error_code in _RECIPIENT_CODES:
        return OutcomeKind.PERMANENT, Stage.RCPT
    if error_code in _SENDER_CODES:
        return OutcomeKind.SERVER_FAILURE, Stage.API
    if error_code == _INVALID_REQUEST and about_recipient:
        return OutcomeKind.PERMANENT, Stage.RCPT
    if error_code and 200 <= status < 300:
        status = 422  # a refusal inside a 200 answer is still a refusal
    return classify_status(status, about_recipient=about_recipient)


def _display(name: str, address: str) -> str:
    """RFC 5322 quoted display name; Postmark refuses unquoted punctuation in names."""
    if not name:
        return address
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def build_payload(message: OutgoingMessage, stream: str) -> dict[str, Any]:
    name, address = from_parts(message.from_header, message.envelope_from)
    headers = [{"Name": "Message-ID", "Value": message.message_id}]
    payload: dict[str, Any] = {
        "From": _display(name, address),
        "To": message.recipient,
        "Subject": message.subject,
        "MessageStream": stream,
    }
    for key, value in message.headers.items():
        if key.lower() == "reply-to":
            payload["ReplyTo"] = value
        else:
            headers.append({"Name": key, "Value": value})
    if message.return_token is not None:
        headers.append({"Name": RETURN_TOKEN_HEADER, "Value": message.return_token})
    payload["Headers"] = headers
    payload["Metadata"] = {METADATA_KEY: message.uid}  # Postmark's webhooks echo it back
    if message.text is not None:
        payload["TextBody"] = message.text
    if message.html is not None:
        payload["HtmlBody"] = message.html
    if message.text is None and message.html is None:
        payload["TextBody"] = ""
    return payload


def _error(response: httpx.Response) -> tuple[int | None, str]:
    body = json_body(response)
    code = body.get("ErrorCode")
    text = str(body.get("Message") or "") or short_text(response)
    return (code if isinstance(code, int) else None), text


class PostmarkTransport:
    """One Postmark server (its Server API token) and one of its message streams."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.settings = PostmarkSettings.model_validate(dict(spec.settings))
        token = spec.secrets.get("server_token", "")
        auth = HeaderAuth(TOKEN_HEADER, token)
        self.base_url = self.settings.base_url or BASE_URL
        self._http = VendorHttp(spec, self.base_url, auth, secrets=(token,))

    async def send(self, message: OutgoingMessage) -> Outcome:
        payload = build_payload(message, self.settings.message_stream)
        try:
            response = await self._http.request("POST", "/email", json=payload)
        except VendorUnreachableError as exc:
            return exc.outcome
        code, text = _error(response)
        if response.is_success and not code:
            remote_id = json_body(response).get("MessageID")
            return accepted(str(remote_id) if remote_id else None, text, code=response.status_code)
        # "Invalid 'To' address: ..." or "Error parsing 'To': Illegal email address ...".
        about = names_recipient(text, message.recipient, ("'to'",))
        classified = classify_postmark(code, response.status_code, about_recipient=about)
        label = f"ErrorCode {code}: {text}" if code is not None else text
        return self._http.outcome(response, label, classified=classified)

    async def check(self) -> Health:
        """Reads the server the token belongs to; its answer also lists the tokens, never shown."""
        try:
            response = await self._http.request("GET", "/server")
        except VendorUnreachableError as exc:
            return Health(False, exc.outcome.describe())
        if not response.is_success:
            code, text = _error(response)
            label = f"ErrorCode {code}: {text}" if code is not None else text
            return Health(False, f"GET /server: {response.status_code} {self._http.redact(label)}")
        body = json_body(response)
        name = str(body.get("Name") or "")
        delivery = str(body.get("DeliveryType") or "unknown")
        facts = {"server": name, "delivery_type": delivery, "stream": self.settings.message_stream}
        detail = f"Postmark server {name!r}, delivery {delivery}"
        if delivery.lower() == "sandbox":
            detail += " (sandbox: messages are accepted but never delivered)"
        return Health(True, detail, facts)

    async def close(self) -> None:
        await self._http.close()
