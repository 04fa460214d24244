"""The domain mix of a simulation: parsed strictly, spread evenly, read from a recipients CSV."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sendpool.errors import InputError
from sendpool.services.operations import simulation
from sendpool.services.operations.domain_mix import (
    DEFAULT_MIX,
    DomainMix,
    default_mix,
    mix_from_csv,
    parse_mix,
)
from tests.support.settings import make_settings


def test_a_mix_by_weight() -> None:
    mix = parse_mix(" Gmail.com=40, yahoo.com=20,bücher.example=40")
    assert mix.weights == (("gmail.com", 40), ("yahoo.com", 20), ("bücher.example", 40))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "gmail.com",
            "--domains: 'gmail.com' needs a weight: use DOMAIN=WEIGHT, e.g. gmail.com=40",
        ),
        (
            "gmail.com=",
            "the weight of gmail.com must be a whole number from 1 to 1,000,000 (got '')",
        ),
        ("gmail.com=2.5", "the weight of gmail.com must be a whole number from 1 to 1,000,000"),
        ("gmail.com=-1", "the weight of gmail.com must be a whole number"),
        ("gmail.com=1000001", "the weight of gmail.com must be a whole number"),
        ("=3", "--domains: '' is not a domain (e.g. gmail.com)"),
        ("gmail=3", "--domains: 'gmail' is not a domain"),
        ("-a.com=3", "--domains: '-a.com' is not a domain"),
        ("a..com=3", "--domains: 'a..com' is not a domain"),
        ("user@a.com=3", "--domains: 'user@a.com' is not a domain"),
        ("a.com=1,,b.com=1", "--domains: an empty entry"),
        ("a.com=1,A.com=1", "--domains: a.com is given twice"),
    ],
    ids=[
        "no-weight",
        "empty-weight",
        "fraction",
        "negative",
        "too-heavy",
        "no-domain",
        "one-label",
        "leading-hyphen",
        "empty-label",
        "an-address",
        "empty-entry",
        "twice",
    ],
)
def test_a_malformed_mix_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_mix(text)
    assert message in str(err.value)


def test_too_many_domains() -> None:
    with pytest.raises(InputError, match="--domains: at most 10,000 domains"):
        parse_mix(",".join(f"d{i}.example=1" for i in range(10_001)))


@pytest.mark.parametrize("messages", [1, 7, 100, 999, 10_000], ids=str)
def test_the_spread_gives_each_domain_its_share_exactly(messages: int) -> None:
    mix = parse_mix("a.example=40,b.example=20,c.example=40,d.example=1")
    spread = mix.spread(messages)
    assert len(spread) == messages
    counts = Counter(spread)
    for domain, weight in mix.weights:
        assert abs(counts[domain] - messages * weight / 101) < 1


def test_every_batch_carries_about_the_same_mix() -> None:
    spread = parse_mix("a.example=3,b.example=1").spread(4000)
    for start in range(0, 4000, 500):
        assert abs(Counter(spread[start : start + 500])["a.example"] - 375) <= 1


def test_the_default_mix_has_the_large_providers_and_a_long_tail() -> None:
    mix = default_mix()
    assert mix.weights == DEFAULT_MIX and mix.source == "the default mix of 39 domains"
    assert mix.weights[0] == ("gmail.com", 30)
    assert sum(1 for _d, w in mix.weights if w == 1) > 20


def test_a_recipients_csv(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email,name\nA@Gmail.com,a\nb@gmail.com,b\nc@example.org,c\n")
    mix, rows = mix_from_csv(path)
    assert rows == 3
    assert mix == DomainMix((("gmail.com", 2), ("example.org", 1)), "people.csv (3 recipients)")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name\nx\n", "no 'email' column"),
        ("email\n", "has no recipients"),
        ("email\na@b.com\nnobody\n", "line 3: 'nobody' is not an email address"),
        ("email\n@b.com\n", "line 2: '@b.com' is not an email address"),
        ("email\na@b_c.com\n", "line 2: 'b_c.com' is not a domain"),
    ],
    ids=["no-column", "empty", "no-at", "no-local-part", "bad-domain"],
)
def test_a_bad_recipients_csv_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        mix_from_csv(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_an_unreadable_recipients_csv(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        mix_from_csv(tmp_path / "none.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"email\n\xff\xfe@x.com\n")
    with pytest.raises(InputError, match="is not UTF-8 text"):
        mix_from_csv(binary)


async def test_an_unknown_policy_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/none.db")
    with pytest.raises(InputError) as err:
        await simulation.simulate(
            settings,
            plan="Marketing",
            messages=10,
            send_class=None,
            workers=1,
            now=datetime.now(UTC),
            policy="fastest",
        )
    said = str(err.value)
    assert said.startswith("--policy: unknown policy 'fastest'; use one of round_robin, ")
    assert "sticky_domain" in said and "sticky_provider" in said and said.endswith(", or all")
    assert not (tmp_path / "none.db").exists()


def test_every_policy_is_listed_with_round_robin_first() -> None:
    names = simulation.policy_names()
    assert names[0] == "round_robin"
    assert {"sticky_domain", "sticky_provider"} <= set(names)
