"""Return-path tokens: they name the message, carry a MAC, and refuse anything forged or malformed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendpool.core.return_path import (
    TOKEN_HEADER,
    make_token,
    read_token,
    return_path_address,
    token_form,
    token_of_address,
)

KEY = b"k" * 32
OTHER = b"o" * 32


def test_a_token_names_its_message_and_reads_back() -> None:
    token = make_token(1001, KEY)
    assert read_token(token, KEY) == 1001
    assert read_token(token.upper(), KEY) == 1001  # MTAs that fold local parts to upper case
    assert read_token(f"  {token} ", KEY) == 1001
    assert TOKEN_HEADER == "X-Sendpool-Message"


def test_the_token_is_short_lowercase_base32_and_names_no_recipient() -> None:
    token = make_token(123_456_789, KEY)
    assert token == token.lower() and token.isalnum() and "=" not in token
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert 18 <= len(token) <= 24
    assert len(make_token(2**64 - 1, KEY)) == 29  # the longest: 8 id bytes + 10 MAC bytes


@given(st.integers(min_value=1, max_value=2**64 - 1))
def test_every_message_id_round_trips(message_id: int) -> None:
    assert read_token(make_token(message_id, KEY), KEY) == message_id


@pytest.mark.parametrize("bad", [0, -1, 2**64])
def test_an_id_outside_64_bits_positive_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="positive 64-bit"):
        make_token(bad, KEY)


def _raw(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def test_forged_and_malformed_tokens_read_as_none() -> None:
    token = make_token(1001, KEY)
    flipped = token[:-3] + ("a" if token[-3] != "a" else "b") + token[-2:]
    cases = [
        make_token(1001, OTHER),  # another key: a forged bounce
        flipped,  # one character changed
        token[:-1],  # cut short: a length no base32 has, or a broken MAC
        token + "a",  # one character too many
        "",
        "   ",
        "a" * 65,  # too long
        "abc!def",  # outside the alphabet
        "ab1cdef",  # 1 is not base32
        "a",  # no base32 encoding is 1 character long (1, 3, 6 over a block)
        _raw(b"\x01" * 10),  # MAC bytes only, no id
        _raw(b"\x01" * 9 + b"\x01" * 10),  # an id longer than 64 bits
        _raw(b"\x00\x03" + b"\x01" * 10),  # an id with a leading zero byte
    ]
    for case in cases:
        assert read_token(case, KEY) is None, case
    assert read_token(None, KEY) is None  # type: ignore[arg-type]


def test_a_token_with_nonzero_trailing_bits_is_not_another_spelling() -> None:
    token = make_token(1001, KEY)
    # 20 base32 characters carry 100 bits for 96 bits of data: the last 4 must be zero.
    last = "abcdefghijklmnopqrstuvwxyz234567".index(token[-1])
    other = token[:-1] + "abcdefghijklmnopqrstuvwxyz234567"[last | 1]
    assert other != token
    assert base64.b32decode(other.upper() + "====") == base64.b32decode(token.upper() + "====")
    assert read_token(other, KEY) is None


def test_the_return_path_address_carries_the_token_and_gives_it_back() -> None:
    token = make_token(42, KEY)
    address = return_path_address("bounces", token, "bounce.example.com")
    assert address == f"bounces+{token}@bounce.example.com"
    assert token_of_address(address) == token
    assert token_of_address(f"<{address}>") == token
    assert token_of_address(f"Bounces <{address.upper()}>") == token
    assert token_of_address(f"my+bounces+{token}@bounce.example.com") == token


@pytest.mark.parametrize(
    "address",
    [
        "bounces@bounce.example.com",  # no +TOKEN
        "bounces+@bounce.example.com",  # empty token
        "bounces+abc",  # no domain
        "bounces+ab!c@bounce.example.com",  # not base32
        "bounces+" + "a" * 65 + "@bounce.example.com",  # too long
        "x" * 1001,  # absurdly long input
        "",
        "<>",
    ],
)
def test_addresses_without_a_token_give_none(address: str) -> None:
    assert token_of_address(address) is None


def test_token_of_address_refuses_what_is_not_text() -> None:
    assert token_of_address(None) is None  # type: ignore[arg-type]


def test_token_form_lowercases_and_checks_only_the_form() -> None:
    assert token_form(" ABC234 ") == "abc234"
    assert token_form("abc-234") is None
    assert token_form("") is None
