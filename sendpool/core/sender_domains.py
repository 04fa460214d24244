"""Which of a customer's sending-domain entries covers a From domain, and which entries clash.

Entries are lower-case A-label domains (``example.com``) or wildcards
(``*.example.com``), as the tenancy service stores them (docs/design.md §4).
An exact entry covers that one domain: a subdomain is a domain of its own, so
``example.com`` does not let a customer send as ``mail.example.com``. A
wildcard covers every name under its base, at any depth, but not the base
itself: ``*.example.com`` covers ``a.example.com`` and ``a.b.example.com``.

A domain belongs to at most one customer. Two customers' entries clash when
they are the same, or when one is a wildcard and the other is its base or
lies under it: a wildcard claims the whole tree below its base. Two exact
entries, one under the other (``example.com`` and ``shop.example.com``), do
not clash: each is a domain of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

WILDCARD = "*."


def is_wildcard(entry: str) -> bool:
    return entry.startswith(WILDCARD)


def base_of(entry: str) -> str:
    """The domain an entry is about: itself, or what its wildcard stands in front of."""
    return entry[len(WILDCARD) :] if is_wildcard(entry) else entry


def _under(domain: str, base: str) -> bool:
    """``domain`` is a strict subdomain of ``base``."""
    return domain.endswith("." + base)


def covers(entry: str, domain: str) -> bool:
    """Whether a From domain (lower-case A-label) may be sent from under ``entry``."""
    if is_wildcard(entry):
        return _under(domain, base_of(entry))
    return domain == entry


def suffixes(domain: str) -> list[str]:
    """``a.example.com`` → ``a.example.com``, ``example.com``, ``com``: every base above it."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def candidate_entries(domain: str) -> list[str]:
    """Every entry that could cover ``domain``: itself, and a wildcard over each base above it."""
    return [domain, *(WILDCARD + s for s in suffixes(domain)[1:])]


def covering_entry(entries: Iterable[str], domain: str) -> str | None:
    """The entry that lets ``domain`` send: the exact one first, else the closest wildcard."""
    held = set(entries)
    for entry in candidate_entries(domain):
        if entry in held:
            return entry
    return None


def clashes(a: str, b: str) -> bool:
    """Whether two different customers could not both hold ``a`` and ``b``."""
    if a == b:
        return True
    base_a, base_b = base_of(a), base_of(b)
    if is_wildcard(a) and (base_b == base_a or _under(base_b, base_a)):
        return True
    return is_wildcard(b) and (base_a == base_b or _under(base_a, base_b))
