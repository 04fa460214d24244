"""Sending-domain entries: what each covers, and which two customers may not both hold."""

from __future__ import annotations

import pytest

from sendpool.core.sender_domains import (
    base_of,
    candidate_entries,
    clashes,
    covering_entry,
    covers,
    suffixes,
)


@pytest.mark.parametrize(
    ("entry", "domain", "covered"),
    [
        ("example.com", "example.com", True),
        ("example.com", "mail.example.com", False),  # a subdomain is a domain of its own
        ("example.com", "badexample.com", False),
        ("*.example.com", "mail.example.com", True),
        ("*.example.com", "a.b.example.com", True),  # any depth
        ("*.example.com", "example.com", False),  # not the base itself
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "mail.example.org", False),
    ],
)
def test_covers(entry: str, domain: str, covered: bool) -> None:
    assert covers(entry, domain) is covered


def test_bases_and_candidates() -> None:
    assert base_of("*.example.com") == "example.com"
    assert base_of("example.com") == "example.com"
    assert suffixes("a.example.com") == ["a.example.com", "example.com", "com"]
    assert candidate_entries("a.example.com") == ["a.example.com", "*.example.com", "*.com"]


@pytest.mark.parametrize(
    ("entries", "domain", "entry"),
    [
        (["example.com", "*.example.com"], "example.com", "example.com"),
        (["*.example.com", "*.shop.example.com"], "eu.shop.example.com", "*.shop.example.com"),
        (["*.example.com"], "shop.example.com", "*.example.com"),
        (["example.com"], "shop.example.com", None),
        ([], "example.com", None),
    ],
)
def test_covering_entry(entries: list[str], domain: str, entry: str | None) -> None:
    assert covering_entry(entries, domain) == entry


@pytest.mark.parametrize(
    ("a", "b", "clash"),
    [
        ("example.com", "example.com", True),
        ("example.com", "shop.example.com", False),  # two domains of their own
        ("example.com", "example.org", False),
        ("*.example.com", "example.com", True),  # the wildcard claims the tree below its base
        ("*.example.com", "shop.example.com", True),
        ("*.example.com", "*.shop.example.com", True),
        ("*.example.com", "*.example.com", True),
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "*.example.org", False),
        ("shop.example.com", "*.example.com", True),  # and the other way round
        ("example.com", "*.example.com", True),
        ("*.shop.example.com", "*.example.com", True),
        ("example.com", "*.shop.example.com", False),
    ],
)
def test_clashes(a: str, b: str, clash: bool) -> None:
    assert clashes(a, b) is clash
