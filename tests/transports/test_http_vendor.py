"""The shared HTTP mapping: status classes, Retry-After, base URLs and secret scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendpool.core.outcomes import OutcomeKind, Stage
from sendpool.transports.http_vendor import (
    HeaderAuth,
    basic_auth,
    check_base_url,
    classify_status,
    from_parts,
    redact,
    retry_after,
)

NOW = datetime(2026, 11, 27, 18, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "about_recipient", "kind", "stage"),
    [
        (200, False, OutcomeKind.ACCEPTED, Stage.API),
        (202, False, OutcomeKind.ACCEPTED, Stage.API),
        (401, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (403, True, OutcomeKind.SERVER_FAILURE, Stage.API),
        (429, True, OutcomeKind.THROTTLED, Stage.API),
        (500, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (503, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (400, True, OutcomeKind.PERMANENT, Stage.RCPT),
        (422, True, OutcomeKind.PERMANENT, Stage.RCPT),
        (400, False, OutcomeKind.PERMANENT, Stage.API),
        (413, False, OutcomeKind.PERMANENT, Stage.API),
        (404, True, OutcomeKind.SERVER_FAILURE, Stage.API),
        (408, False, OutcomeKind.SERVER_FAILURE, Stage.API),
        (302, False, OutcomeKind.SERVER_FAILURE, Stage.API),
    ],
)
def test_classify_status(
    status: int, about_recipient: bool, kind: OutcomeKind, stage: Stage
) -> None:
    assert classify_status(status, about_recipient=about_recipient) == (kind, stage)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "30"}, 30.0),
        ({"retry-after": "Fri, 27 Nov 2026 18:01:00 GMT"}, 60.0),
        ({"retry-after": "Fri, 27 Nov 2026 17:00:00 GMT"}, 0.0),
        ({"x-ratelimit-reset": str(int(NOW.timestamp()) + 5)}, 5.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, NOW) == expected


@pytest.mark.parametrize(
    "url",
    ["https://api.mailgun.net", "http://127.0.0.1:8080/", "http://localhost:9", "http://[::1]:80"],
)
def test_base_url_accepted(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://api.mailgun.net", "ftp://example.com", "https://", "https://x.example?k=v"]
)
def test_base_url_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_base_url(url)


def test_from_parts_decodes_encoded_names() -> None:
    assert from_parts("=?utf-8?b?w4lyaWMgUm91eA==?= <eric@example.com>", "x@y") == (
        "Éric Roux",
        "eric@example.com",
    )
    assert from_parts("news@example.com", "x@y") == ("", "news@example.com")
    assert from_parts("", "bounce@example.com") == ("", "bounce@example.com")


def test_secrets_are_scrubbed_and_never_in_a_repr() -> None:
    auth, token = basic_auth("api", "key-very-secret")
    assert "key-very-secret" not in repr(auth) and token not in repr(auth)
    assert "tok-123456" not in repr(HeaderAuth("X-Token", "tok-123456"))
    assert redact("bad key key-very-secret / " + token, ("key-very-secret", token)) == (
        "bad key *** / ***"
    )
