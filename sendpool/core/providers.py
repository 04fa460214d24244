"""Provider groups: which mailbox provider a recipient's domain belongs to.

Receivers throttle per provider, not per domain: Gmail answers for gmail.com
and googlemail.com alike, Yahoo for aol.com too. A group names one such
receiver, so a server's limits to it (per second, connections, messages per
connection) hold across all its domains.

Matching, exactly (docs/design.md §1.9):

1. The domain is lower-cased and a trailing dot dropped; it is the A-label
   form (``xn--…``), as on the wire.
2. A domain listed by name beats an MX pattern: every group's ``domains`` are
   looked at first, then, only if the domain is listed nowhere and its MX
   hosts are known, the ``mx`` patterns.
3. Among groups of the same kind of match, the order of ``groups`` decides:
   ``with_shipped`` puts the operator's groups first (in their own order),
   then the shipped ones, so an operator's group wins. An operator's group
   with a shipped group's name replaces that shipped group entirely.
4. Domains match whole (``gmail.com`` is not ``mail.gmail.com``). An MX
   pattern is a host name, matched whole, or ``*.`` followed by a suffix,
   which matches any host with one or more labels before that suffix
   (``*.google.com`` matches ``aspmx.l.google.com``, not ``google.com``).
5. MX hosts are tried in the order given (their preference); the first host
   that some group's pattern matches decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_YAHOO_COUNTRIES = (
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.co.in",
    "yahoo.co.jp",
    "yahoo.co.id",
    "yahoo.co.nz",
    "yahoo.co.th",
    "yahoo.co.za",
    "yahoo.com.ar",
    "yahoo.com.au",
    "yahoo.com.br",
    "yahoo.com.hk",
    "yahoo.com.mx",
    "yahoo.com.my",
    "yahoo.com.ph",
    "yahoo.com.sg",
    "yahoo.com.tw",
    "yahoo.com.vn",
    "yahoo.ca",
    "yahoo.de",
    "yahoo.dk",
    "yahoo.es",
    "yahoo.fr",
    "yahoo.gr",
    "yahoo.ie",
    "yahoo.in",
    "yahoo.it",
    "yahoo.no",
    "yahoo.pl",
    "yahoo.se",
)
_MICROSOFT_COUNTRIES = ("com", "co.uk", "fr", "de", "it", "es", "nl", "be", "ca", "com.au", "jp")


@dataclass(frozen=True, slots=True)
class ProviderGroup:
    """A receiver that throttles as one: its domains by name, and its MX host patterns."""

    name: str
    domains: frozenset[str] = frozenset()
    mx: tuple[str, ...] = ()


SHIPPED: tuple[ProviderGroup, ...] = (
    ProviderGroup(
        "gmail",
        frozenset({"gmail.com", "googlemail.com"}),
        ("*.google.com", "*.googlemail.com"),
    ),
    ProviderGroup(
        "yahoo",
        frozenset(
            {
                *_YAHOO_COUNTRIES,
                "ymail.com",
                "rocketmail.com",
                "aol.com",
                "aol.co.uk",
                "aim.com",
                "verizon.net",
                "att.net",
            }
        ),
        ("*.yahoodns.net",),
    ),
    ProviderGroup(
        "outlook",
        frozenset(
            {
                *(f"hotmail.{tld}" for tld in _MICROSOFT_COUNTRIES),
                *(f"live.{tld}" for tld in _MICROSOFT_COUNTRIES),
                *(f"outlook.{tld}" for tld in ("com", "fr", "de", "it", "es", "jp", "co.uk")),
                "msn.com",
                "passport.com",
                "windowslive.com",
            }
        ),
        ("*.mail.protection.outlook.com", "*.olc.protection.outlook.com"),
    ),
    ProviderGroup(
        "icloud",
        frozenset({"icloud.com", "me.com", "mac.com"}),
        ("*.mail.icloud.com",),
    ),
)
SHIPPED_NAMES = frozenset(g.name for g in SHIPPED)


def normal_host(name: str) -> str:
    """A domain or host as compared: lower-case, without the root's trailing dot."""
    return name.strip().lower().removesuffix(".")


def pattern_problem(pattern: str) -> str | None:
    """Why an MX pattern cannot be used, or None: a host name, or ``*.`` and a suffix."""
    body = pattern.removeprefix("*.")
    if not body or "*" in body:
        return "an MX pattern is a host name, or '*.' and a suffix (as '*.google.com')"
    if "." not in body or any(not label for label in body.split(".")):
        return "an MX pattern names a host with at least two non-empty labels"
    return None


def host_matches(pattern: str, host: str) -> bool:
    """Rule 4: a whole name, or ``*.suffix`` with at least one label before the suffix."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def with_shipped(operator: Iterable[ProviderGroup]) -> tuple[ProviderGroup, ...]:
    """Rule 3: the operator's groups first; a shipped group of the same name is left out."""
    mine = tuple(operator)
    taken = {g.name for g in mine}
    return mine + tuple(g for g in SHIPPED if g.name not in taken)


class ProviderMap:
    """``groups`` (in precedence order) indexed once: a dict for domains, a list for MX."""

    def __init__(self, groups: Sequence[ProviderGroup]) -> None:
        self.groups = tuple(groups)
        self._domains: dict[str, str] = {}
        for g in self.groups:
            for d in g.domains:
                self._domains.setdefault(normal_host(d), g.name)
        self._mx = [(normal_host(p), g.name) for g in self.groups for p in g.mx]
        self.uses_mx = bool(self._mx)

    def by_domain(self, domain: str) -> str | None:
        return self._domains.get(normal_host(domain))

    def by_mx(self, hosts: Sequence[str]) -> str | None:
        for host in hosts:
            h = normal_host(host)
            for pattern, name in self._mx:
                if host_matches(pattern, h):
                    return name
        return None

    def of(self, domain: str, mx_hosts: Sequence[str] | None = None) -> str | None:
        """Rules 2 and 5: by name first, then by the first MX host some pattern matches."""
        named = self.by_domain(domain)
        if named is not None or not mx_hosts:
            return named
        return self.by_mx(mx_hosts)


def group_of(
    domain: str, groups: Sequence[ProviderGroup], mx_hosts: Sequence[str] | None = None
) -> str | None:
    """The group ``domain`` belongs to among ``groups`` (precedence order), or None."""
    return ProviderMap(groups).of(domain, mx_hosts)


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """One server's limits to one group; None is no limit.

    ``rate_per_second`` with ``burst`` sends at once is a GCRA
    (core/ratelimit.py): over any span of t seconds at most ``burst + rate * t``
    sends. With no burst the sends are spaced ``1 / rate`` apart, one at a time
    (``STRICT_BURST``): never more than the rate in any one-second window, which
    is what a receiver that counts per second sees. ``max_connections`` is per worker (its hand-over);
    ``messages_per_connection`` closes an SMTP connection after that many of the group.
    """

    rate_per_second: float | None = None
    burst: float | None = None
    max_connections: int | None = None
    messages_per_connection: int | None = None


# Without a configured burst: one send at a time, 1 / rate apart.
STRICT_BURST = 1.0


def effective_burst(limits: GroupLimits | None, rate: float) -> float:
    """The burst at ``rate``: the configured one, scaled down with a backed-off rate.

    A back-off that halves the rate halves the burst too (never below one send),
    or a provider asking us to slow down would still get the full burst at once.
    """
    if limits is None or limits.burst is None:
        return STRICT_BURST
    configured = limits.rate_per_second
    if configured is None or rate >= configured:
        return limits.burst
    return max(1.0, limits.burst * rate / configured)
