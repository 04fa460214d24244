"""SENDPOOL_BOUNCE_DOMAIN and SENDPOOL_BOUNCE_LOCAL: checked when read, clear when refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sendpool.config import MAX_BOUNCE_LOCAL, Settings


def test_no_bounce_domain_by_default_and_blank_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().bounce_domain is None and Settings().bounce_local == "bounces"
    monkeypatch.setenv("SENDPOOL_BOUNCE_DOMAIN", "   ")
    assert Settings().bounce_domain is None


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("bounce.example.com", "bounce.example.com"),
        (" Bounce.Example.COM ", "bounce.example.com"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bounce.example.com.", "bounce.example.com"),
    ],
)
def test_the_bounce_domain_is_read_from_the_environment_in_its_wire_form(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str
) -> None:
    monkeypatch.setenv("SENDPOOL_BOUNCE_DOMAIN", given)
    assert Settings().bounce_domain == kept


@pytest.mark.parametrize(
    "bad",
    [
        "not a domain",
        "a_b.example.com",
        "localhost",
        "192.0.2.1",
        "[192.0.2.1]",
        "bounces@example.com",
        "bounce.example.com\nX: y",
        "x" * 64 + ".example.com",
        "a." * 130 + "com",
        "xn--invalid-.example",
    ],
)
def test_a_bad_bounce_domain_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("SENDPOOL_BOUNCE_DOMAIN", bad)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "bounce_domain:" in str(refused.value)
    assert "is not a mail domain" in str(refused.value)


@pytest.mark.parametrize("good", ["bounces", "rp", "bounce.s", "a-b_c", "x" * MAX_BOUNCE_LOCAL])
def test_a_plain_local_part_is_taken(good: str) -> None:
    assert Settings(bounce_local=good).bounce_local == good


@pytest.mark.parametrize(
    "bad",
    ["", "a+b", "two words", ".first", "trail.", "a..b", "jörg", "a@b", "<x>", "a\r\nb",
     "x" * (MAX_BOUNCE_LOCAL + 1)],
)  # fmt: skip
def test_a_local_part_that_cannot_carry_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("SENDPOOL_BOUNCE_LOCAL", bad)
    with pytest.raises(ValidationError, match="bounce_local: .* is not a plain local part"):
        Settings()
