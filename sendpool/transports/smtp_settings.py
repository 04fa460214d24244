"""The fields of an SMTP relay and their validation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(587, ge=1, le=65535)
    encryption: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = Field(None, max_length=320)
    verify_tls: bool = True
    ca_file: str | None = None
    helo_name: str | None = Field(None, max_length=253)


SMTP_SECRETS = ("password",)
