"""Address checks agree with email-validator, fast path or not."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from sendpool.content.addresses import normalise_address
from sendpool.errors import InputError

LOCAL = st.text(alphabet='abcXYZ09.+-_!"é ', min_size=0, max_size=70)
DOMAIN = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.com",
        "ex-ample.co.uk",
        "-bad.com",
        "a..b.com",
        "localhost",
        "x.test",
        "exämple.com",
        "1.2.3.4",
        "[1.2.3.4]",
        "mail.example.com.",
        "b",
        "x.invalid",
    ]
)


def reference(address: str) -> str | None:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


@settings(max_examples=400, deadline=None)
@given(local=LOCAL, domain=DOMAIN)
def test_same_verdict_and_form_as_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    try:
        mine: str | None = normalise_address(address)
    except InputError:
        mine = None
    assert mine == reference(address)
