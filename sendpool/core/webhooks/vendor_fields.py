"""Reading a vendor's JSON after its signature verified: typed fields, capped, never a crash.

A verified body is still the vendor's data in the vendor's shape, which changes
without notice; a field of an unexpected type reads as absent rather than
failing the whole request. Words (a diagnostic, a description) are cut to the
contract's lengths; an identifier or an address is dropped when over-long
instead, since one cut short names another message or another mailbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sendpool.core.reports.kinds import ReportKind, format_status, kind_of_status, status_code
from sendpool.core.webhooks.events import FRESHNESS_SECONDS, EventKind, WebhookRefused

MAX_EVENT_ID = 128
MAX_RECIPIENT = 320
MAX_OUR_ID = 64
MAX_VENDOR_ID = 255
MAX_REPORTED_BY = 255
MAX_REPLAY_KEY = 128
# A signed Unix time in seconds: digits only, and few enough for a datetime (year 5138).
UNIX_TIME = re.compile(r"[0-9]{1,11}")  # ASCII: \d would take "١٦٠٠" too

# kind_of_status's verdicts that say something about a failure; UNKNOWN (and a success
# code inside a failure) leave the vendor's own classification standing.
REFINING = {
    ReportKind.HARD: EventKind.HARD,
    ReportKind.SOFT: EventKind.SOFT,
    ReportKind.REPUTATION: EventKind.REPUTATION,
}


def _refuse_constant(name: str) -> float:
    # NaN and Infinity are not JSON (RFC 8259 §6); Python's parser accepts them by default.
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes) -> object:
    """The body as JSON, or 400: not UTF-8, not JSON, nested too deep, a number too long."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WebhookRefused(400, "the body is not JSON") from exc


def require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC)")


def mapping(value: object) -> Mapping[str, object]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def cap(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def text(value: object, limit: int) -> str | None:
    """A string or a number as text, stripped and cut to ``limit``; None when empty or other."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    words = str(value).strip()
    return cap(words, limit) if words else None


def ident(value: object, limit: int) -> str | None:
    """An identifier or an address: None when absent, empty or longer than ``limit``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    name = str(value).strip()
    return name if 0 < len(name) <= limit else None


def stable_id(*parts: object) -> str:
    """An event id joined from fields that are the same on every redelivery, hashed if long."""
    joined = "|".join("" if p is None else str(p) for p in parts)
    if len(joined) <= MAX_EVENT_ID:
        return joined
    return "sha256:" + hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()


def event_id(value: object, *fallback: object) -> str:
    """The vendor's own event id when usable, else ``stable_id(*fallback)``."""
    return ident(value, MAX_EVENT_ID) or stable_id(*fallback)


def epoch(value: object) -> datetime | None:
    """A Unix time in seconds (Mailgun sends fractions) as aware UTC; None when not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def iso_time(value: object) -> datetime | None:
    """An ISO 8601 time (Postmark's, with 7 fraction digits) as aware UTC; None when not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def status_in(*texts: str | None) -> str | None:
    """The first RFC 3463 code found in ``texts``, as "5.1.1"."""
    for words in texts:
        code = format_status(status_code(words))
        if code is not None:
            return code
    return None


def refine(base: EventKind, status: str | None, diagnostic: str | None) -> EventKind:
    """The vendor's class, unless the status code and words say which failure it is.

    The same reading as a DSN's (reports.kinds): a 5.7.x or a blocklist's words
    is the sending server's reputation whatever the vendor called it, 5.1.1 a
    dead address, 5.2.2 a full mailbox; a code saying nothing keeps ``base``.
    """
    return REFINING.get(kind_of_status(status, diagnostic, "failed"), base)


def signed_unix_time(value: object) -> datetime:
    """A signed timestamp (a JSON number or digits) as aware UTC, or 400."""
    digits = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(digits, str) or UNIX_TIME.fullmatch(digits) is None:
        raise WebhookRefused(400, "the signed timestamp is not a Unix time")
    return datetime.fromtimestamp(int(digits), UTC)


def check_fresh(signed_at: datetime, now: datetime) -> None:
    """403 when the signed time is more than FRESHNESS_SECONDS away from now, either way.

    A signature stays valid forever; the window bounds how long a captured
    request can be replayed, and the replay key covers the window itself.
    """
    if abs(now - signed_at) > timedelta(seconds=FRESHNESS_SECONDS):
        raise WebhookRefused(
            403, f"stale timestamp: signed more than {FRESHNESS_SECONDS} s from now"
        )


def same_digest(expected: str, given: object) -> bool:
    """Constant-time comparison of hex digests; a non-string or non-ASCII one never matches."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "surrogatepass"))
