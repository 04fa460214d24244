"""Provider groups: every matching rule of core/providers.py, one table row each."""

from __future__ import annotations

import pytest

from sendpool.core.providers import (
    SHIPPED,
    SHIPPED_NAMES,
    GroupLimits,
    ProviderGroup,
    ProviderMap,
    effective_burst,
    group_of,
    host_matches,
    pattern_problem,
    with_shipped,
)

WORK = ProviderGroup("workspace", mx=("*.google.com",))
MINE = ProviderGroup("mine", frozenset({"example.org", "gmail.com"}))
CORP = ProviderGroup("corp", frozenset({"corp.example"}), ("mx.corp.example",))

CASES = [
    # (domain, operator groups, mx hosts, expected group)
    ("gmail.com", (), None, "gmail"),
    ("GoogleMail.COM.", (), None, "gmail"),
    ("mail.gmail.com", (), None, None),  # rule 4: domains match whole
    ("yahoo.co.uk", (), None, "yahoo"),
    ("aol.com", (), None, "yahoo"),
    ("rocketmail.com", (), None, "yahoo"),
    ("hotmail.fr", (), None, "outlook"),
    ("live.com", (), None, "outlook"),
    ("msn.com", (), None, "outlook"),
    ("me.com", (), None, "icloud"),
    ("example.com", (), None, None),
    ("example.com", (), (), None),  # known to have no MX
    # rule 2: by MX when listed nowhere; shipped patterns cover hosted domains
    ("hosted.example", (), ("aspmx.l.google.com",), "gmail"),
    ("o365.example", (), ("o365-example.mail.protection.outlook.com.",), "outlook"),
    ("y.example", (), ("mta5.am0.yahoodns.net",), "yahoo"),
    ("apple.example", (), ("mx01.mail.icloud.com",), "icloud"),
    ("bare.example", (), ("google.com",), None),  # "*.google.com" needs a label before
    # rule 3: the operator's group wins among the same kind of match
    ("hosted.example", (WORK,), ("aspmx.l.google.com",), "workspace"),
    ("gmail.com", (MINE,), None, "mine"),
    # rule 2: a domain listed by name beats an MX pattern, even the operator's
    ("gmail.com", (WORK,), ("gmail-smtp-in.l.google.com",), "gmail"),
    # rule 5: MX hosts in preference order, the first that matches decides
    ("two.example", (CORP,), ("other.example", "mx.corp.example", "a.google.com"), "corp"),
    ("corp.example", (CORP,), None, "corp"),
    ("x.mx.corp.example", (CORP,), ("x.mx.corp.example",), None),  # exact pattern
]


@pytest.mark.parametrize(
    ("domain", "operator", "mx", "expected"), CASES, ids=[f"case{i}" for i in range(len(CASES))]
)
def test_group_of(
    domain: str,
    operator: tuple[ProviderGroup, ...],
    mx: tuple[str, ...] | None,
    expected: str | None,
) -> None:
    assert group_of(domain, with_shipped(operator), mx) == expected


def test_an_operator_group_of_a_shipped_name_replaces_it() -> None:
    gmail = ProviderGroup("gmail", frozenset({"gmail.example"}))
    groups = with_shipped([gmail])
    assert [g.name for g in groups] == ["gmail", "yahoo", "outlook", "icloud"]
    assert group_of("gmail.example", groups) == "gmail"
    assert group_of("googlemail.com", groups) is None
    assert {g.name for g in SHIPPED} == SHIPPED_NAMES


def test_the_map_says_whether_it_needs_mx() -> None:
    assert ProviderMap(with_shipped(())).uses_mx
    assert not ProviderMap([MINE]).uses_mx
    assert ProviderMap([MINE]).by_mx(["a.google.com"]) is None


@pytest.mark.parametrize(
    ("pattern", "ok"),
    [
        ("*.google.com", True),
        ("mx.corp.example", True),
        ("*.", False),
        ("*", False),
        ("a.*.com", False),
        ("*.com", False),
        ("localhost", False),
        ("a..b", False),
    ],
    ids=lambda v: str(v),
)
def test_pattern_problem(pattern: str, ok: bool) -> None:
    assert (pattern_problem(pattern) is None) is ok


@pytest.mark.parametrize(
    ("pattern", "host", "hit"),
    [
        ("*.google.com", "aspmx.l.google.com", True),
        ("*.google.com", "google.com", False),
        ("*.google.com", "evilgoogle.com", False),
        ("mx.a.b", "mx.a.b", True),
        ("mx.a.b", "x.mx.a.b", False),
    ],
    ids=lambda v: str(v),
)
def test_host_matches(pattern: str, host: str, hit: bool) -> None:
    assert host_matches(pattern, host) is hit


@pytest.mark.parametrize(
    ("limits", "rate", "burst"),
    [
        (None, 5.0, 1.0),  # a back-off's own rate: one send at a time
        (GroupLimits(rate_per_second=5.0), 5.0, 1.0),  # no burst: spaced 1/rate apart
        (GroupLimits(rate_per_second=10.0, burst=20), 10.0, 20),
        (GroupLimits(rate_per_second=10.0, burst=20), 5.0, 10.0),  # backed off: halved
        (GroupLimits(rate_per_second=10.0, burst=4), 1.0, 1.0),  # never below one send
        (GroupLimits(burst=4), 3.0, 4),  # no configured rate to scale from
    ],
    ids=[f"b{i}" for i in range(6)],
)
def test_effective_burst(limits: GroupLimits | None, rate: float, burst: float) -> None:
    assert effective_burst(limits, rate) == burst
