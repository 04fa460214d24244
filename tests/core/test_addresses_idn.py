"""Each address has a form people read, a wire form with A-label domains, and a need.

The need is the core's decision (``address_need``, on the wire form); the
forms come from content/addresses.py, which applies IDNA 2008 with UTS #46
mapping through email-validator. Invalid IDNA is refused with the reason.
"""

from __future__ import annotations

import pytest

from sendpool.content.addresses import address_forms, address_header, wire_address
from sendpool.core.servers import AddressNeed, address_need
from sendpool.errors import InputError

ASCII, UTF8 = AddressNeed.ASCII, AddressNeed.SMTPUTF8


@pytest.mark.parametrize(
    ("given", "seen", "wire", "need"),
    [
        # ASCII: nothing to convert, any server takes it
        ("user@example.com", "user@example.com", "user@example.com", ASCII),
        ("User@EXAMPLE.com", "User@example.com", "User@example.com", ASCII),
        # IDN domain only: people keep the U-label, servers get the A-label, no SMTPUTF8
        ("user@bücher.example", "user@bücher.example", "user@xn--bcher-kva.example", ASCII),
        ("user@BÜCHER.example", "user@bücher.example", "user@xn--bcher-kva.example", ASCII),
        ("user@xn--bcher-kva.example", "user@bücher.example", "user@xn--bcher-kva.example", ASCII),
        ("a@faß.de", "a@faß.de", "a@xn--fa-hia.de", ASCII),  # IDNA 2008: ß is kept, not "ss"
        ("a@例え.テスト", "a@例え.テスト", "a@xn--r8jz45g.xn--zckzah", ASCII),
        # non-ASCII local part: no ASCII form exists, it needs SMTPUTF8
        ("jörg@example.com", "jörg@example.com", "jörg@example.com", UTF8),
        ("用户@example.com", "用户@example.com", "用户@example.com", UTF8),
        # mixed: the domain still goes as A-labels, the local part needs SMTPUTF8
        ("jörg@bücher.example", "jörg@bücher.example", "jörg@xn--bcher-kva.example", UTF8),
    ],
)
def test_address_forms(given: str, seen: str, wire: str, need: AddressNeed) -> None:
    forms = address_forms(given)
    assert (forms.seen, forms.wire, forms.need) == (seen, wire, need)
    assert wire_address(forms.seen) == wire
    assert wire.rpartition("@")[2].isascii()


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("a@xn--invalid-.example", "hyphen"),  # a label ending in a hyphen
        ("a@-bad-.example", "hyphen"),
        ("a@xn--zzzzzzzz.example", "not valid IDNA"),  # an A-label that decodes to nothing
        ("a@xn--a.example", "not valid IDNA"),
        ("a@xn--u-ccb.example", "not valid IDNA"),  # decodes to text not in NFC
        ("a@☃.example", "not allowed"),  # a symbol IDNA 2008 disallows
        ("a@ab--c.example", "dashes"),  # "--" at 3-4 is for A-labels only
    ],
)
def test_invalid_idna_is_refused_with_the_reason(given: str, said: str) -> None:
    with pytest.raises(InputError) as caught:
        address_forms(given)
    message = str(caught.value)
    assert given[:20] in message and said in message


@pytest.mark.parametrize(
    ("addresses", "need"),
    [
        ((), ASCII),
        (("a@example.com",), ASCII),
        (("a@example.com", "b@xn--bcher-kva.example"), ASCII),
        (("a@example.com", "jörg@example.com"), UTF8),  # any one address decides
        (("jörg@example.com", "a@example.com"), UTF8),
        (("a@bücher.example",), UTF8),  # a U-label left unconverted is not ASCII
    ],
)
def test_address_need_on_wire_forms(addresses: tuple[str, ...], need: AddressNeed) -> None:
    assert address_need(*addresses) is need


@pytest.mark.parametrize(
    ("name", "wire", "header"),
    [
        ("", "news@example.com", "news@example.com"),
        ("News", "news@xn--bcher-kva.example", "News <news@xn--bcher-kva.example>"),
        ("Bücher", "news@example.com", "=?utf-8?q?B=C3=BCcher?= <news@example.com>"),
        ("", "jörg@example.com", "jörg@example.com"),
        ("Jörg", "jörg@example.com", "=?utf-8?b?SsO2cmc=?= <jörg@example.com>"),
        ("A, B", "jörg@example.com", '"A, B" <jörg@example.com>'),
    ],
)
def test_address_header(name: str, wire: str, header: str) -> None:
    assert address_header(name, wire) == header
