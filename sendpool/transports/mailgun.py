"""Mailgun's HTTP API: the message goes as the very MIME bytes every other server gets.

``POST /v3/{domain}/messages.mime`` takes the recipient in ``to`` and the RFC 5322
bytes as the file field ``message``, so headers such as List-Unsubscribe and
Message-ID reach the recipient exactly as rendered.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from sendpool.core.outcomes import Outcome, accepted
from sendpool.core.webhooks.events import METADATA_KEY
from sendpool.transports.base import Health
from sendpool.transports.http_vendor import (
    VendorHttp,
    VendorUnreachableError,
    basic_auth,
    check_base_url,
    json_body,
    names_recipient,
    short_text,
)
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.spec import ServerSpec
from sendpool.transports.text_checks import HostName, OneLine

BASE_URLS = {"us": "https://api.mailgun.net", "eu": "https://api.eu.mailgun.net"}

# Mailgun answers "'to' parameter is not a valid address. please check documentation".
_RECIPIENT_MARKERS = ("'to'", "to parameter")


class MailgunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: HostName = Field(min_length=1, max_length=253)
    region: Literal["us", "eu"] = "us"
    base_url: OneLine | None = None  # urlsplit drops CR LF silently: refused first

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)


# The webhook signing key (Mailgun's console: Sending > Webhooks) checks its events.
MAILGUN_SECRETS = ("api_key", "webhook_signing_key")


def _message(response: httpx.Response) -> str:
    """Mailgun's JSON ``message``, or its plain-text body (401 answers 'Forbidden')."""
    text = json_body(response).get("message")
    return str(text) if text else short_text(response)


class MailgunTransport:
    """One Mailgun sending domain, in the US or EU region."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.settings = MailgunSettings.model_validate(dict(spec.settings))
        key = spec.secrets.get("api_key", "")
        auth, token = basic_auth("api", key)
        base = self.settings.base_url or BASE_URLS[self.settings.region]
        self.base_url = base
        self._http = VendorHttp(spec, base, auth, secrets=(key, token))
        self._domain = quote(self.settings.domain, safe="")

    async def send(self, message: OutgoingMessage) -> Outcome:
        # A file upload, as Mailgun's documented ``curl -F message=@file`` sends it.
        files = {"message": ("message.mime", message.mime, "application/octet-stream")}
        try:
            response = await self._http.request(
                "POST",
                f"/v3/{self._domain}/messages.mime",
                # A ``v:`` variable: Mailgun's webhooks report it in ``user-variables``.
                data={"to": message.recipient, f"v:{METADATA_KEY}": message.uid},
                files=files,
            )
        except VendorUnreachableError as exc:
            return exc.outcome
        text = _message(response)
        if response.is_success:
            # Mailgun's id is "<...@domain>"; its webhooks name the message without brackets.
            remote_id = str(json_body(response).get("id") or "").strip("<>") or None
            return accepted(remote_id, text, code=response.status_code)
        about = names_recipient(text, message.recipient, _RECIPIENT_MARKERS)
        return self._http.outcome(response, text, about_recipient=about)

    async def check(self) -> Health:
        """Reads the domain: the key must be valid and the domain active to send."""
        try:
            response = await self._http.request("GET", f"/v4/domains/{self._domain}")
        except VendorUnreachableError as exc:
            return Health(False, exc.outcome.describe())
        if not response.is_success:
            detail = self._http.redact(_message(response))
            return Health(False, f"GET domain: {response.status_code} {detail}")
        domain = json_body(response).get("domain") or {}
        state = str(domain.get("state") or "unknown")
        facts = {"domain": self.settings.domain, "state": state}
        if domain.get("type"):
            facts["type"] = str(domain["type"])
        if state != "active":
            return Health(False, f"domain {self.settings.domain} is {state}", facts)
        return Health(True, f"domain {self.settings.domain} is active", facts)

    async def close(self) -> None:
        await self._http.close()
