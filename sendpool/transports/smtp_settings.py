"""The fields of an SMTP relay and their validation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sendpool.transports.text_checks import HostName, OneLine


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each text here is written into the SMTP conversation or opened as a file:
    # a control character in any of them is refused (transports/text_checks.py).
    host: HostName = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    encryption: Literal["none", "starttls", "tls"] = "starttls"
    username: OneLine | None = Field(None, max_length=320)
    verify_tls: bool = True
    ca_file: OneLine | None = Field(None, max_length=4096)
    # RFC 5321 §4.1.1.1: EHLO names a domain or an address literal.
    helo_name: HostName | None = Field(None, max_length=253)


SMTP_SECRETS = ("password",)
