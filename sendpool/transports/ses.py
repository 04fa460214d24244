"""Amazon SES through the v2 API (aiobotocore): SendEmail with the message's own MIME bytes.

One client per transport, made on first use, keeps its HTTPS connections for
every later send. botocore's own retries are off: the pipeline owns retries and
failover, and a retried call after a read timeout could send the message twice.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any, Protocol, cast

from aiobotocore.config import AioConfig  # type: ignore[import-untyped, unused-ignore]
from aiobotocore.session import AioSession  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
    ReadTimeoutError,
)
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sendpool.core.outcomes import Outcome, OutcomeKind, Stage, accepted
from sendpool.core.webhooks.events import METADATA_KEY
from sendpool.transports.base import Health
from sendpool.transports.http_vendor import (
    about_sender,
    check_base_url,
    classify_status,
    from_parts,
    redact,
)
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.spec import ServerSpec
from sendpool.transports.text_checks import OneLine

# "Maximum sending rate exceeded." clears within a second or so; "Daily message quota
# exceeded." only as the 24-hour window rolls on, so that waits far longer.
RATE_WAIT = 1.0
QUOTA_WAIT = 3600.0

_THROTTLE_CODES = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)
# Credentials that are wrong, expired or not allowed to send, an account (or its
# configuration set) that may not send at all, a MAIL FROM domain SES cannot use:
# nothing about the message or its recipient, everything about the server.
_SERVER_CODES = frozenset(
    {
        "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
        "IncompleteSignature", "MissingAuthenticationToken", "AccessDenied",
        "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
        "InvalidSignatureException", "AccountSuspendedException", "SendingPausedException",
        "AccountSendingPausedException", "ConfigurationSetSendingPausedException",
        "MailFromDomainNotVerifiedException", "NotFoundException", "InternalFailure",
        "ServiceUnavailable",
    }
)  # fmt: skip
_REFUSAL_CODES = frozenset({"MessageRejected", "BadRequestException", "InvalidParameterValue"})
# SES's address complaints: "Missing final '@domain'", "Illegal address", "Domain
# contains illegal character", "Local address contains control or whitespace".
_ADDRESS_TROUBLE = re.compile(r"address|domain|mailbox|local part|@")
# A refusal about this account or its sending identity, never the recipient: "Email
# address is not verified", "did not have authority to send from", and a suspended
# account's "Sending suspended for this account. ... the email address associated
# with your AWS account", which names an address and so was once taken for the
# recipient's. Another server, with its own account and identities, may send it.
_ABOUT_SENDER = re.compile(
    r"not verified|did not have authority|not authorized to send"
    r"|sending (?:is )?(?:suspended|paused|disabled)|account (?:is |has been )?(?:suspended|paused)"
)


# arn:aws:sns:<region>:<12-digit account>:<topic name, 1-256 of [A-Za-z0-9_-], ".fifo">
SnsTopicArn = Annotated[
    str,
    Field(
        max_length=400,
        pattern=r"^arn:aws(-cn|-us-gov)?:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$",
    ),
]


class SesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    region: str = Field(min_length=1, max_length=40, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    endpoint_url: OneLine | None = None
    # None: the default AWS credential chain (environment, instance role) is used.
    access_key_id: str | None = Field(
        None, min_length=16, max_length=128, pattern=r"^[A-Za-z0-9]+$"
    )
    # SES: "letters, numbers, underscores and dashes", at most 64.
    configuration_set: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )

    # The SNS topics whose notifications the server's webhook accepts (exact ARNs).
    sns_topic_arns: list[SnsTopicArn] | None = Field(None, min_length=1, max_length=20)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)


SES_SECRETS = ("secret_access_key",)


def classify_ses(
    code: str, message: str, status: int, *, recipient: str
) -> tuple[OutcomeKind, Stage, float | None]:
    """The class of an SES refusal, from its error code and text (SES v2 API reference)."""
    low = message.lower()
    if code in _THROTTLE_CODES or "rate exceeded" in low or "quota exceeded" in low:
        return OutcomeKind.THROTTLED, Stage.API, QUOTA_WAIT if "daily" in low else RATE_WAIT
    if code in _SERVER_CODES:
        return OutcomeKind.SERVER_FAILURE, Stage.API, None
    if code in _REFUSAL_CODES and (_ABOUT_SENDER.search(low) or about_sender(low)):
        # The sending identity is not verified here (or the account is in the
        # sandbox, or suspended): like an SMTP 5.7.1 to MAIL FROM, it is this server
        # that may not send (docs/design.md §1.5), and never the address's fault.
        return OutcomeKind.SERVER_FAILURE, Stage.API, None
    if code in _REFUSAL_CODES and (
        (recipient and recipient.lower() in low) or _ADDRESS_TROUBLE.search(low)
    ):
        return OutcomeKind.PERMANENT, Stage.RCPT, None
    kind, stage = classify_status(status or 400)
    return kind, stage, None


def _xml_field(text: str, name: str) -> str:
    found = re.search(rf"<{name}>([^<]*)</{name}>", text)
    return found.group(1) if found else ""


def error_parts(response: Mapping[str, Any]) -> tuple[str, str, int]:
    """Code, message and HTTP status of a botocore error response."""
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    if message.lstrip().startswith("<"):
        # Auth failures can come back as a query-protocol XML body even on this JSON
        # API (moto does so); botocore then leaves the whole document as the message.
        code = _xml_field(message, "Code") or code
        message = _xml_field(message, "Message") or message
    return code, message, status


class _SesClient(Protocol):
    async def send_email(self, **kwargs: Any) -> Mapping[str, Any]: ...

    async def get_account(self) -> Mapping[str, Any]: ...


def _number(value: Any) -> str:
    number = float(value or 0)
    return str(int(number)) if number.is_integer() else f"{number:g}"


class SesTransport:
    """One SES account in one region, reached with one long-lived client."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.settings = SesSettings.model_validate(dict(spec.settings))
        self._secret = SecretStr(spec.secrets.get("secret_access_key", ""))
        self._client: _SesClient | None = None
        self._stack: AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SesTransport({self.spec.name!r}, region={self.settings.region!r})"

    async def _get_client(self) -> _SesClient:
        async with self._lock:
            if self._client is None:
                size = max(1, self.spec.max_connections)
                config = AioConfig(
                    connect_timeout=self.spec.timeout,
                    read_timeout=self.spec.timeout,
                    max_pool_connections=size,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    user_agent_extra="sendpool",
                )
                keys: dict[str, str] = {}
                if self.settings.access_key_id:
                    keys = {
                        "aws_access_key_id": self.settings.access_key_id,
                        "aws_secret_access_key": self._secret.get_secret_value(),
                    }
                stack = AsyncExitStack()
                client = await stack.enter_async_context(
                    AioSession().create_client(
                        "sesv2",
                        region_name=self.settings.region,
                        endpoint_url=self.settings.endpoint_url,
                        config=config,
                        **keys,
                    )
                )
                self._stack, self._client = stack, cast(_SesClient, client)
            return self._client

    def _redact(self, text: str) -> str:
        return redact(text, (self._secret.get_secret_value(),))

    def _failure(self, exc: Exception, recipient: str = "") -> Outcome:
        """Map a botocore error once: a refusal by its code, anything else as no answer."""
        if isinstance(exc, ClientError):
            code, message, status = error_parts(exc.response)
            kind, stage, wait = classify_ses(code, message, status, recipient=recipient)
            text = self._redact(f"{code}: {message}" if code else message)
            return Outcome(kind, stage, status or None, None, text, None, wait)
        text = self._redact(f"{type(exc).__name__}: {exc}")
        # A read timeout comes after the request went out: SES may have taken it.
        lost = isinstance(exc, ReadTimeoutError) and bool(recipient)
        kind = OutcomeKind.UNKNOWN if lost else OutcomeKind.SERVER_FAILURE
        return Outcome(kind, Stage.API, None, None, text)

    async def send(self, message: OutgoingMessage) -> Outcome:
        _, sender = from_parts(message.from_header, message.envelope_from)
        params: dict[str, Any] = {
            # The identity SES checks; it is the From header's address, as users verify it.
            "FromEmailAddress": sender,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": message.mime}},
            # SES event publishing reports the tag in ``mail.tags``: it names the message.
            "EmailTags": [{"Name": METADATA_KEY, "Value": message.uid}],
        }
        if self.settings.configuration_set:
            params["ConfigurationSetName"] = self.settings.configuration_set
        try:
            client = await self._get_client()
            answer = await client.send_email(**params)
        except (BotoCoreError, ClientError) as exc:
            return self._failure(exc, message.recipient)
        return accepted(str(answer.get("MessageId") or "") or None, "SendEmail OK", code=200)

    async def check(self) -> Health:
        """GetAccount: whether sending is enabled, and the quota SES grants today."""
        try:
            client = await self._get_client()
            account = await client.get_account()
        except (BotoCoreError, ClientError) as exc:
            return Health(False, f"GetAccount: {self._failure(exc).describe()}")
        quota = account.get("SendQuota") or {}
        facts = {
            "Max24HourSend": _number(quota.get("Max24HourSend")),
            "MaxSendRate": _number(quota.get("MaxSendRate")),
            "SentLast24Hours": _number(quota.get("SentLast24Hours")),
            "ProductionAccessEnabled": str(bool(account.get("ProductionAccessEnabled"))).lower(),
        }
        if account.get("EnforcementStatus"):
            facts["EnforcementStatus"] = str(account["EnforcementStatus"])
        used = f"{facts['SentLast24Hours']}/{facts['Max24HourSend']} sent in 24 h"
        if not account.get("SendingEnabled", True):
            return Health(False, f"sending is paused for this account; {used}", facts)
        return Health(True, f"{used}, {facts['MaxSendRate']}/s", facts)

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()
