"""Unsubscribe tokens: they name a subscriber and a list, and refuse anything forged or malformed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendpool.core.unsubscribe import make_unsubscribe_token, read_unsubscribe_token

KEY = b"k" * 32
OTHER = b"o" * 32
ids = st.integers(min_value=1, max_value=2**64 - 1)


def _raw(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()


def _flip(token: str, at: int) -> str:
    return token[:at] + ("a" if token[at] != "a" else "b") + token[at + 1 :]


@given(ids, ids)
def test_every_pair_of_ids_round_trips(subscriber_id: int, list_id: int) -> None:
    token = make_unsubscribe_token(subscriber_id, list_id, KEY)
    assert read_unsubscribe_token(token, KEY) == (subscriber_id, list_id)


def test_the_token_is_short_lowercase_base32_and_names_no_address() -> None:
    token = make_unsubscribe_token(7, 3, KEY)
    assert token == token.lower() and set(token) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert len(token) == 23  # 2 + 2 id bytes + 10 MAC bytes
    assert len(make_unsubscribe_token(2**64 - 1, 2**64 - 1, KEY)) == 45  # the longest
    assert make_unsubscribe_token(7, 3, KEY) != make_unsubscribe_token(3, 7, KEY)


@pytest.mark.parametrize(
    "spelling",
    [str.upper, str.title, lambda t: f"  {t}\n"],
    ids=["upper", "mixed", "spaces"],
)
def test_case_and_surrounding_space_do_not_matter(spelling) -> None:  # type: ignore[no-untyped-def]
    token = make_unsubscribe_token(1001, 42, KEY)
    assert read_unsubscribe_token(spelling(token), KEY) == (1001, 42)


@pytest.mark.parametrize("bad", [(0, 1), (1, 0), (-1, 1), (1, 2**64)])
def test_an_id_outside_64_bits_positive_is_refused(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="positive 64-bit"):
        make_unsubscribe_token(*bad, KEY)


_GOOD = make_unsubscribe_token(1001, 42, KEY)
_BODY = b"\x02\x03\xe9\x01\x2a"  # the ids of _GOOD, length-prefixed


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(make_unsubscribe_token(1001, 42, OTHER), id="re-signed-with-another-key"),
        pytest.param(_flip(_GOOD, 2), id="forged-id"),
        pytest.param(_flip(_GOOD, len(_GOOD) - 3), id="forged-mac"),
        pytest.param(_GOOD[:-1], id="truncated-by-one"),
        pytest.param(_GOOD[:-8], id="truncated-by-a-block"),
        pytest.param(_GOOD + "a", id="one-too-many"),
        pytest.param(_GOOD + "aaaaaaaa", id="a-block-too-many"),
        pytest.param("a" * 65, id="too-long"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param(_GOOD[:5] + "!" + _GOOD[6:], id="bad-alphabet"),
        pytest.param(_GOOD[:5] + "1" + _GOOD[6:], id="digit-outside-base32"),
        pytest.param("a", id="impossible-length"),
        pytest.param(_GOOD[:-1] + "b", id="nonzero-trailing-bits"),
        pytest.param(_raw(b"\x01" * 10), id="mac-only"),
        pytest.param(_raw(b""), id="nothing"),
        pytest.param(_raw(b"\x00" + _BODY[1:] + b"\x01" * 10), id="zero-length-id"),
        pytest.param(
            _raw(b"\x09" + b"\x01" * 9 + b"\x01\x01" + b"\x01" * 10), id="id-over-64-bits"
        ),
        pytest.param(_raw(b"\x02\x00\x05\x01\x01" + b"\x01" * 10), id="leading-zero-byte"),
        pytest.param(_raw(b"\x02\x03\xe9"), id="no-list-id"),
        pytest.param(_raw(b"\x02\x03\xe9\x08\x01"), id="list-id-cut-short"),
    ],
)
def test_forged_and_malformed_tokens_read_as_none(token: str) -> None:
    assert read_unsubscribe_token(token, KEY) is None


def test_a_token_that_is_not_text_reads_as_none() -> None:
    assert read_unsubscribe_token(None, KEY) is None  # type: ignore[arg-type]
    assert read_unsubscribe_token(b"abc", KEY) is None  # type: ignore[arg-type]
