"""SendGrid's v3 Mail Send API: one JSON ``POST /v3/mail/send`` per message.

SendGrid answers 202 with an empty body and names the message in the
``X-Message-Id`` header, which its event webhook later reports as ``sg_message_id``.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.return_path import TOKEN_HEADER
from sendpool.core.webhooks.events import METADATA_KEY
from sendpool.core.webhooks.sendgrid import load_public_key
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

# The EU endpoint serves EU-pinned subusers (data residency).
BASE_URLS = {"global": "https://api.sendgrid.com", "eu": "https://api.eu.sendgrid.com"}

# SendGrid refuses these in ``headers``: they have fields of their own or are its own.
_RESERVED = frozenset(
    {
        "to", "from", "subject", "reply-to", "cc", "bcc", "content-type",
        "content-transfer-encoding", "x-sg-id", "x-sg-eid", "received", "dkim-signature",
    }
)  # fmt: skip
_RECIPIENT_FIELD = re.compile(r"^personalizations\.\d+\.(to|cc|bcc)\b")


class SendgridSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: Literal["global", "eu"] = "global"
    base_url: OneLine | None = None  # urlsplit drops CR LF silently: refused first
    # The Signed Event Webhook's verification key, as SendGrid's console shows it (base64
    # of its DER public key) or as a PEM: a public key, so a setting and not a secret.
    webhook_public_key: str | None = Field(None, min_length=1, max_length=2000)

    @field_validator("webhook_public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        load_public_key(value)  # ValueError says what is wrong with it
        return value.strip()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)


SENDGRID_SECRETS = ("api_key",)


def build_payload(message: OutgoingMessage) -> dict[str, Any]:
    name, address = from_parts(message.from_header, message.envelope_from)
    sender: dict[str, str] = {"email": address}
    if name:
        sender["name"] = name
    payload: dict[str, Any] = {
        "personalizations": [{"to": [{"email": message.recipient}]}],
        "from": sender,
        "subject": message.subject,
    }
    headers = {"Message-ID": message.message_id}
    for key, value in message.headers.items():
        if key.lower() == "reply-to":
            reply_name, reply_address = parseaddr(value)
            payload["reply_to"] = {"email": reply_address or value}
            if reply_name:
                payload["reply_to"]["name"] = reply_name
        elif key.lower() not in _RESERVED:
            headers[key] = value
    if message.return_token is not None:
        headers[TOKEN_HEADER] = message.return_token
    payload["headers"] = headers
    payload["custom_args"] = {METADATA_KEY: message.uid}  # every event of it carries them
    # text/plain must come first, and SendGrid refuses an empty value.
    content = [
        {"type": kind, "value": value}
        for kind, value in (("text/plain", message.text), ("text/html", message.html))
        if value
    ]
    payload["content"] = content or [{"type": "text/plain", "value": " "}]
    return payload


def _errors(response: httpx.Response) -> tuple[list[str], str]:
    """The fields SendGrid names and its messages, joined for an operator to read."""
    items = json_body(response).get("errors")
    fields: list[str] = []
    texts: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        field = item.get("field")
        text = str(item.get("message") or "")
        if field:
            fields.append(str(field))
            text = f"{text} (field {field})"
        texts.append(text)
    return fields, "; ".join(t for t in texts if t) or short_text(response)


def classify_sendgrid(
    status: int, fields: list[str], *, about_recipient: bool
) -> tuple[OutcomeKind, Stage]:
    if status == 403 and "from" in fields:
        # "The from address does not match a verified Sender Identity": this key may
        # not send for that From, like an SMTP 5.7.1 to MAIL FROM (docs/design.md
        # §1.5). Another server may; the recipient is never at fault.
        return OutcomeKind.SERVER_FAILURE, Stage.API
    return classify_status(status, about_recipient=about_recipient)


class SendgridTransport:
    """One SendGrid API key with the ``mail.send`` scope."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.settings = SendgridSettings.model_validate(dict(spec.settings))
        key = spec.secrets.get("api_key", "")
        auth = HeaderAuth("Authorization", f"Bearer {key}")
        base = self.settings.base_url or BASE_URLS[self.settings.region]
        self.base_url = base
        self._http = VendorHttp(spec, base, auth, secrets=(key,))

    async def send(self, message: OutgoingMessage) -> Outcome:
        try:
            response = await self._http.request(
                "POST", "/v3/mail/send", json=build_payload(message)
            )
        except VendorUnreachableError as exc:
            return exc.outcome
        if response.is_success:
            remote_id = response.headers.get("x-message-id") or None
            return accepted(remote_id, response.reason_phrase, code=response.status_code)
        fields, text = _errors(response)
        about = any(_RECIPIENT_FIELD.match(f) for f in fields) or names_recipient(
            text, message.recipient
        )
        classified = classify_sendgrid(response.status_code, fields, about_recipient=about)
        return self._http.outcome(response, text, classified=classified)

    async def check(self) -> Health:
        """Lists the key's scopes: a key that works but may not send is no use to the pool."""
        try:
            response = await self._http.request("GET", "/v3/scopes")
        except VendorUnreachableError as exc:
            return Health(False, exc.outcome.describe())
        if not response.is_success:
            text = self._http.redact(_errors(response)[1])
            return Health(False, f"GET /v3/scopes: {response.status_code} {text}")
        scopes = json_body(response).get("scopes")
        scopes = scopes if isinstance(scopes, list) else []
        can_send = "mail.send" in scopes
        facts = {"scopes": str(len(scopes)), "mail.send": "yes" if can_send else "no"}
        if not can_send:
            return Health(False, "the API key lacks the mail.send scope", facts)
        return Health(True, "API key valid, mail.send allowed", facts)

    async def close(self) -> None:
        await self._http.close()
