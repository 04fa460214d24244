"""Settings from the environment (SENDPOOL_*) or a TOML file; the defaults need nothing."""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

# The local part of return-path addresses: an RFC 5322 §3.2.3 dot-atom without "+", which
# separates it from the message's token (local+TOKEN@domain). At most 32 characters, so the
# whole local part stays within RFC 5321's 64 (§4.5.3.1.1) whatever the token.
_BOUNCE_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*/=?^_`{|}~-]+)*")
MAX_BOUNCE_LOCAL = 32


def mail_domain(value: str | None, name: str = "") -> str | None:
    """A domain mail can be addressed to, lowercased, in A-labels; blank is no domain.

    Checked as the domain of an address sendpool would accept (email-validator, IDNA
    2008 with UTS #46 mapping), since relays send their reports to an address on it.
    """
    text = (value or "").strip().removesuffix(".")
    if not text:
        return None
    try:
        return validate_email("x@" + text, check_deliverability=False).ascii_domain.lower()
    except EmailNotValidError as exc:
        reason = str(exc).replace("The part after the @-sign", "The domain").rstrip(".")
        said = f"{name}: " if name else ""
        raise ValueError(
            f"{said}{text[:80]!r} is not a mail domain ({reason}); give e.g. bounce.example.com"
        ) from None


def bounce_local_part(value: str) -> str:
    """``value`` if it can stand before ``+TOKEN@`` in every return-path address."""
    if len(value) > MAX_BOUNCE_LOCAL or not _BOUNCE_LOCAL.fullmatch(value):
        raise ValueError(
            f"bounce_local: {value[:80]!r} is not a plain local part of 1 to "
            f"{MAX_BOUNCE_LOCAL} ASCII letters, digits and .!#$%&'*/=?^_`{{|}}~- "
            "(no '+', no spaces, no dot at either end); give e.g. bounces"
        )
    return value


class Settings(BaseSettings):
    """Every knob an operator may turn. Environment beats the TOML file beats defaults."""

    model_config = SettingsConfigDict(env_prefix="SENDPOOL_", extra="ignore")

    database_url: str = "sqlite:///./sendpool.db"
    redis_url: str | None = None
    secret_key: str | None = None
    config_file: str | None = None

    burst_threshold: int = Field(5000, ge=1)
    health_check_interval: float = Field(300.0, gt=0)
    batch_size: int = Field(500, ge=1, le=10000)
    max_in_flight: int = Field(2000, ge=1)
    lease_seconds: float = Field(120.0, gt=0)
    poll_interval: float = Field(0.2, gt=0)
    idle_recheck_seconds: float = Field(60.0, gt=0)
    retry_base_seconds: float = Field(60.0, gt=0)
    retry_max_delay_seconds: float = Field(3600.0, gt=0)
    max_age_seconds: float = Field(3 * 24 * 3600.0, gt=0)
    send_timeout: float = Field(30.0, gt=0)
    # Where recipients reach sendpool: unsubscribe links are {public_url}/u/TOKEN. Not set,
    # `serve` uses the address it listens on, every other process serve's default address.
    public_url: str = "http://127.0.0.1:8025"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        try:
            parts = urlsplit(text)
            # .port raises ValueError for a port that is not a number or out of range.
            fine = parts.scheme in ("http", "https") and bool(parts.hostname)
            fine = fine and (parts.port or 0) >= 0 and not (parts.query or parts.fragment)
        except ValueError:  # also an unclosed [IPv6 literal
            fine = False
        if not fine:
            raise ValueError(
                f"public_url: {value[:80]!r} is not an http(s) URL of a host, with no query "
                "or fragment (give e.g. https://mail.example.com)"
            )
        return text

    # The return path (docs/design.md §6): with a bounce domain, each message's envelope
    # sender is bounce_local+TOKEN@bounce_domain; a server's own bounce_domain beats this.
    bounce_domain: str | None = None
    bounce_local: str = "bounces"

    @field_validator("bounce_domain")
    @classmethod
    def _bounce_domain(cls, value: str | None) -> str | None:
        return mail_domain(value, "bounce_domain")

    @field_validator("bounce_local")
    @classmethod
    def _bounce_local(cls, value: str) -> str:
        return bounce_local_part(value)

    # Daily rebalancing (docs/design.md §1): bounce-rate thresholds as fractions.
    rebalance_enabled: bool = True
    rebalance_at: time = time(3, 0)  # UTC; `serve` runs the job once per day at or after it
    rebalance_raise_below: float = Field(0.01, ge=0, le=1)
    rebalance_cut_above: float = Field(0.03, ge=0, le=1)
    rebalance_raise_by: float = Field(0.10, ge=0, le=10)
    rebalance_cut_by: float = Field(0.25, ge=0, lt=1)
    rebalance_min_sent: int = Field(500, ge=0)  # sends in the window below which nothing moves
    rebalance_raise_when_used: float = Field(0.80, ge=0, le=1)  # of the day's cap, to raise

    # Retention (docs/deploy.md §9): settled messages (sent, failed) go retention_days after
    # they settled; delivery events, unmatched webhook events and the dispatcher's daily skip
    # counts after event_retention_days; audit entries after audit_retention_days. 0 keeps
    # them forever. `serve` runs it once a day at or after retention_at (UTC), in batches of
    # retention_batch_size rows, each its own transaction. Per-day rollups are kept.
    retention_days: int = Field(30, ge=0, le=3650)
    event_retention_days: int = Field(90, ge=0, le=3650)
    audit_retention_days: int = Field(0, ge=0, le=3650)
    retention_at: time = time(4, 0)
    retention_batch_size: int = Field(5000, ge=100, le=50_000)

    @model_validator(mode="after")
    def _retention_floor(self) -> Settings:
        # The 24-hour figures (rebalancing, pauses) read messages and events of the last
        # day in any server's time zone, and the daily jobs find their last run in the audit
        # log; soft bounces are counted over soft_bounce_days of events.
        floors = {
            "retention_days": 2,
            "event_retention_days": max(2, self.soft_bounce_days),
            "audit_retention_days": 2,
        }
        for name, floor in floors.items():
            days = getattr(self, name)
            if 0 < days < floor:
                why = " (soft_bounce_days counts events that far back)" if floor > 2 else ""
                raise ValueError(
                    f"{name}: {days} day(s) is too short; give 0 (keep forever) or at least "
                    f"{floor}{why}"
                )
        return self

    # What reports that come back do (docs/design.md §6): soft bounces of one address
    # suppress it after soft_bounce_limit within soft_bounce_days; a server whose 24-hour
    # bounce or complaint rate reaches its threshold over at least bounce_min_volume sends
    # is paused; below that volume no rate acts (pause, warm-up gate).
    soft_bounce_limit: int = Field(3, ge=1, le=1000)
    soft_bounce_days: int = Field(7, ge=1, le=365)
    bounce_min_volume: int = Field(500, ge=1)
    pause_bounce_rate: float = Field(0.05, gt=0, le=1)
    pause_complaint_rate: float = Field(0.001, gt=0, le=1)

    # Provider groups by MX host pattern (docs/design.md §1.9): off, only domains listed by
    # name have a group. On, each worker looks MX records up in the background and caches
    # them (their TTL, clipped); a domain not yet looked up has no group until it is.
    mx_lookups: bool = False
    mx_nameservers: list[str] = Field(default_factory=list)  # addresses; empty: the system's
    mx_port: int = Field(53, ge=1, le=65535)  # of mx_nameservers
    mx_timeout: float = Field(2.0, gt=0, le=30)
    mx_cache_size: int = Field(10_000, ge=1, le=1_000_000)
    mx_negative_ttl: float = Field(300.0, ge=1, le=86_400)  # no MX, or no such domain

    # JSON API: request bodies above these sizes are refused with 413.
    api_max_body_bytes: int = Field(1 << 20, ge=1024)
    api_max_upload_bytes: int = Field(64 << 20, ge=1024)

    # /metrics (docs/deploy.md §6): with a token, scrapes must send `Authorization: Bearer
    # <token>`; with a bind address (HOST:PORT, [IPv6]:PORT), `serve` answers /metrics
    # there only, and 404 on the API port.
    metrics_token: str | None = Field(None, max_length=512)
    metrics_bind: str | None = None

    @field_validator("metrics_token", "metrics_bind")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        # `SENDPOOL_METRICS_TOKEN=` in an env file means "not set", never "the empty token".
        return value.strip() or None if value is not None else None

    @field_validator("metrics_bind")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        host, _, port = (value or "").rpartition(":")
        if value is not None and not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(
                f"metrics_bind: {value!r} is not HOST:PORT (give e.g. 127.0.0.1:9108 or [::1]:9108)"
            )
        return value

    # Inbound reports (docs/deploy.md, "Bounces and complaints"): the SMTP/LMTP listener for
    # the bounce and FBL domains (inbound_domains, comma-separated, plus every bounce_domain),
    # and the IMAP bounce/FBL mailboxes read every inbound_poll_seconds. `serve` runs both
    # when inbound_enabled; `sendpool inbound` runs them on their own.
    inbound_enabled: bool = False
    inbound_bind: str = "127.0.0.1:2526"
    inbound_lmtp: bool = False
    inbound_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    inbound_max_bytes: int = Field(10 << 20, ge=1024, le=1 << 30)
    inbound_max_connections: int = Field(20, ge=1, le=10_000)
    inbound_poll_seconds: float = Field(60.0, gt=0)
    inbound_processed_folder: str = Field("sendpool-processed", min_length=1, max_length=200)

    @field_validator("inbound_bind")
    @classmethod
    def _inbound_host_and_port(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not (host and port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(
                f"inbound_bind: {value!r} is not HOST:PORT (give e.g. 127.0.0.1:2526 or [::1]:24)"
            )
        return value.strip()

    @field_validator("inbound_domains", mode="before")
    @classmethod
    def _inbound_domain_list(cls, value: object) -> object:
        if isinstance(value, str):  # SENDPOOL_INBOUND_DOMAINS=bounce.example.com,fbl.example.com
            return [part for part in (p.strip() for p in value.split(",")) if part]
        return value

    @field_validator("inbound_domains")
    @classmethod
    def _inbound_domains(cls, value: list[str]) -> list[str]:
        domains = (mail_domain(d, "inbound_domains") for d in value)
        return list(dict.fromkeys(d for d in domains if d))

    @field_validator("inbound_processed_folder")
    @classmethod
    def _processed_folder(cls, value: str) -> str:
        if value != value.strip() or any(c in value for c in "\r\n\0*%"):
            raise ValueError(
                f"inbound_processed_folder: {value[:80]!r} is not a plain IMAP folder name "
                "(no surrounding spaces, line breaks, NUL, * or %); give e.g. sendpool-processed"
            )
        return value

    # Admin sign-in (docs/deploy.md, "Admin sign-in and sessions"): a session ends this many
    # seconds after sign-in, or after this many seconds without a request, whichever is first.
    admin_session_max_age: float = Field(12 * 3600.0, gt=0)
    admin_session_idle: float = Field(3600.0, gt=0)
    # Addresses or networks (comma-separated) of reverse proxies whose X-Forwarded-For is
    # believed; empty: the client address is the socket's peer, whatever the headers say.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {entry!r} is not an IP address or network "
                    "(give e.g. 127.0.0.1, 10.0.0.0/8, ::1, comma-separated)"
                ) from None
        return value

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        entries = (e.strip() for e in self.trusted_proxies.split(","))
        return [ipaddress.ip_network(e, strict=False) for e in entries if e]

    @model_validator(mode="after")
    def _rebalance_band(self) -> Settings:
        if self.rebalance_raise_below > self.rebalance_cut_above:
            raise ValueError("rebalance_raise_below must not be above rebalance_cut_above")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("SENDPOOL_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
