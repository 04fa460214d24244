"""The table `make bench` ends with: every figure the benches printed, one line each, pivoted by size.

Each bench prints its figures as JSON lines on stdout (``{"bench", "figure",
"value", "unit", ...}``); `bench/run.sh` collects them in one file and this
script reads it back. Lines that are not such a figure (the benches' own
tables, progress) are skipped, so a file of mixed output reads fine.

    .venv/bin/python bench/table.py .venv/bench/results.jsonl
    .venv/bin/python bench/pipeline.py | .venv/bin/python bench/table.py -

A figure measured at several sizes (a ``size`` or ``messages`` key) shows one
column per size, so growth reads across a row: a cost per million that stays
the same from 100 k to 10 M is flat; one that grows is not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from rich.console import Console
from rich.table import Table

REQUIRED = ("bench", "figure", "value")
SIZE_KEYS = ("size", "messages")
# Keys that say how a figure was measured rather than what it is.
QUIET_KEYS = {"unit", "rounds", "command", "ratio_to", "samples", "note"}


@dataclass(frozen=True, slots=True)
class Figure:
    bench: str
    figure: str
    value: float
    unit: str
    size: int | None
    labels: tuple[tuple[str, str], ...]  # what else tells this figure from its neighbours

    @property
    def row_key(self) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        return (self.bench, self.figure, self.labels)


def parse(lines: Iterable[str]) -> Iterator[Figure]:
    """The figures among ``lines``; anything else (text, tables, broken JSON) is passed over."""
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            raw: Any = json.loads(line)
        except ValueError:
            continue
        if not isinstance(raw, dict) or any(k not in raw for k in REQUIRED):
            continue
        value = raw["value"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        size = next((raw[k] for k in SIZE_KEYS if isinstance(raw.get(k), int)), None)
        labels = tuple(
            sorted(
                (str(k), str(v))
                for k, v in raw.items()
                if k not in REQUIRED and k not in SIZE_KEYS and k not in QUIET_KEYS
            )
        )
        yield Figure(
            bench=str(raw["bench"]),
            figure=str(raw["figure"]),
            value=float(value),
            unit=str(raw.get("unit", "")),
            size=size,
            labels=labels,
        )


def human_size(n: int) -> str:
    for factor, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= factor and n % (factor // 10) == 0:
            text = f"{n / factor:.1f}".removesuffix(".0")
            return text + suffix
    return str(n)


def number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.3g}"


def build_table(figures: list[Figure]) -> Table:
    """One row per figure (last one wins when a figure was printed twice), one column per size."""
    sizes = sorted({f.size for f in figures if f.size is not None})
    rows: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[int | None, Figure]] = {}
    for f in figures:
        rows.setdefault(f.row_key, {})[f.size] = f
    table = Table(title="sendpool bench", title_justify="left")
    table.add_column("bench")
    table.add_column("figure")
    table.add_column("of")
    table.add_column("unit")
    if any(None in by_size for by_size in rows.values()):
        table.add_column("value", justify="right")
    for s in sizes:
        table.add_column(human_size(s), justify="right")
    has_plain = any(None in by_size for by_size in rows.values())
    for (bench, figure, labels), by_size in rows.items():
        unit = next(iter(by_size.values())).unit
        cells = [bench, figure, ", ".join(f"{k}={v}" for k, v in labels), unit]
        if has_plain:
            plain = by_size.get(None)
            cells.append(number(plain.value) if plain else "")
        cells += [number(by_size[s].value) if s in by_size else "" for s in sizes]
        table.add_row(*cells)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="files of JSON lines; - for standard input")
    args = parser.parse_args(argv)
    figures: list[Figure] = []
    for name in args.files:
        stream: IO[str] = sys.stdin if name == "-" else open(name, encoding="utf-8")  # noqa: SIM115
        with stream:
            figures.extend(parse(stream))
    console = Console(width=200)
    if not figures:
        console.print("no figures found: each bench prints its figures as JSON lines on stdout")
        return 1
    console.print(build_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
