"""Whom a simulation's virtual messages go to: a mix of recipient domains.

Sticky routing and per-provider limits decide by the recipient's domain, so a
simulation is only as good as its domains. An operator gives the mix by weight
(``gmail.com=40,yahoo.com=20,example.org=40``) or as the recipients CSV the
campaign will use; without either, a mix like a consumer list's: the large
providers first and a long tail of small domains.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sendpool.errors import InputError

MAX_DOMAINS = 10_000
MAX_WEIGHT = 1_000_000
# Dot-separated labels of letters, digits and inner hyphens (U-labels allowed).
_LABEL = r"[^\W_](?:(?:[^\W_]|-)*[^\W_])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")

DEFAULT_MIX: tuple[tuple[str, int], ...] = (
    ("gmail.com", 30),
    ("yahoo.com", 10),
    ("outlook.com", 8),
    ("hotmail.com", 6),
    ("icloud.com", 5),
    ("aol.com", 3),
    ("gmx.de", 3),
    ("web.de", 2),
    ("orange.fr", 2),
    ("comcast.net", 2),
    ("googlemail.com", 1),
    *((f"company-{i:02d}.example", 1) for i in range(1, 29)),
)


@dataclass(frozen=True, slots=True)
class DomainMix:
    weights: tuple[tuple[str, int], ...]  # domain, weight; in the order given
    source: str  # where the mix came from, said in the report

    def spread(self, messages: int) -> list[str]:
        """The domain of each of ``messages`` messages, mixed evenly through the send.

        Each domain gets its share of the count (largest remainder, so they add up),
        and its messages are spaced out over the sequence, so every batch a worker
        claims carries about the same mix, as a shuffled list would.
        """
        total = sum(w for _, w in self.weights)
        exact = [(d, messages * w / total) for d, w in self.weights]
        counts = {d: int(x) for d, x in exact}
        short = messages - sum(counts.values())
        for d, _x in sorted(exact, key=lambda e: (-(e[1] - int(e[1])), e[0]))[:short]:
            counts[d] += 1
        slots = [((k + 0.5) / n, i, d) for i, (d, n) in enumerate(counts.items()) for k in range(n)]
        slots.sort()
        return [d for _, _, d in slots]


def default_mix() -> DomainMix:
    return DomainMix(DEFAULT_MIX, f"the default mix of {len(DEFAULT_MIX)} domains")


def _domain(text: str, where: str) -> str:
    domain = text.strip().lower()
    if len(domain) > 253 or not _DOMAIN.match(domain):
        raise InputError(f"{where}: {text.strip()!r} is not a domain (e.g. gmail.com)")
    return domain


def parse_mix(text: str) -> DomainMix:
    """``gmail.com=40,yahoo.com=20,example.org=40``: weights, not necessarily summing to 100."""
    weights: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            raise InputError(
                "--domains: an empty entry; use DOMAIN=WEIGHT,DOMAIN=WEIGHT, e.g. gmail.com=40"
            )
        name, eq, value = part.partition("=")
        if not eq:
            raise InputError(
                f"--domains: {part.strip()!r} needs a weight: use DOMAIN=WEIGHT, e.g. gmail.com=40"
            )
        domain = _domain(name, "--domains")
        try:
            weight = int(value.strip())
        except ValueError:
            weight = 0
        if not 1 <= weight <= MAX_WEIGHT:
            raise InputError(
                f"--domains: the weight of {domain} must be a whole number from 1 to "
                f"{MAX_WEIGHT:,} (got {value.strip()!r})"
            )
        if domain in weights:
            raise InputError(f"--domains: {domain} is given twice")
        weights[domain] = weight
    if len(weights) > MAX_DOMAINS:
        raise InputError(f"--domains: at most {MAX_DOMAINS:,} domains (got {len(weights):,})")
    return DomainMix(tuple(weights.items()), "--domains")


def mix_from_csv(path: Path) -> tuple[DomainMix, int]:
    """The domains of a recipients CSV (an ``email`` column) and how many rows it has."""
    where = f"--recipients {path}"
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if "email" not in (reader.fieldnames or []):
                raise InputError(f"{where}: no 'email' column (the first row names the columns)")
            counts: Counter[str] = Counter()
            for line, row in enumerate(reader, start=2):
                email = (row.get("email") or "").strip()
                local, at, domain = email.rpartition("@")
                if not at or not local:
                    raise InputError(f"{where}: line {line}: {email!r} is not an email address")
                counts[_domain(domain, f"{where}: line {line}")] += 1
    except OSError as exc:
        raise InputError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{where}: is not UTF-8 text") from None
    if not counts:
        raise InputError(f"{where}: has no recipients")
    if len(counts) > MAX_DOMAINS:
        raise InputError(f"{where}: at most {MAX_DOMAINS:,} domains (got {len(counts):,})")
    rows = sum(counts.values())
    mix = DomainMix(tuple(counts.most_common()), f"{path.name} ({rows:,} recipients)")
    return mix, rows
