"""`make bench`'s closing table: figures read from mixed output, pivoted by size, none lost."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console

BENCH = Path(__file__).resolve().parents[1] / "bench" / "table.py"


@pytest.fixture(scope="module")
def table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sendpool_bench_table", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def line(**figure: object) -> str:
    return json.dumps(figure)


MIXED = [
    "launching 100,000 ...",
    line(bench="launch", figure="launch_s_per_million", value=9.5, unit="s", size=100_000, db="pg"),
    line(bench="launch", figure="launch_s_per_million", value=9.9, unit="s", size=1_000_000, db="pg"),
    line(bench="launch", figure="launch_s_per_million", value=4.0, unit="s", size=100_000, db="sqlite"),
    "┏━━━━ a rich table ━━━━┓",
    "{not json",
    json.dumps(["a", "list"]),
    line(bench="pipeline", figure="ratio_to_smtp_source", value=0.42, unit="x"),
    line(bench="pipeline", figure="no_value", unit="x"),
    line(bench="pipeline", figure="flag", value=True, unit="x"),
    line(bench="reads", figure="read_p99_ms", value=3.2, unit="ms", messages=10_000_000, read="metrics"),
]  # fmt: skip


def test_only_figures_are_read_and_sizes_and_labels_are_kept(table: ModuleType) -> None:
    figures = list(table.parse(MIXED))
    assert [(f.bench, f.figure, f.size, f.labels) for f in figures] == [
        ("launch", "launch_s_per_million", 100_000, (("db", "pg"),)),
        ("launch", "launch_s_per_million", 1_000_000, (("db", "pg"),)),
        ("launch", "launch_s_per_million", 100_000, (("db", "sqlite"),)),
        ("pipeline", "ratio_to_smtp_source", None, ()),
        ("reads", "read_p99_ms", 10_000_000, (("read", "metrics"),)),
    ]


def test_a_figure_at_several_sizes_is_one_row_with_a_column_per_size(table: ModuleType) -> None:
    out = io.StringIO()
    Console(file=out, width=200).print(table.build_table(list(table.parse(MIXED))))
    text = out.getvalue()
    assert "100k" in text and "1M" in text and "10M" in text
    pg = next(r for r in text.splitlines() if "db=pg" in r)
    assert "9.50" in pg and "9.90" in pg  # both sizes on the one row
    assert sum("launch_s_per_million" in r for r in text.splitlines()) == 2  # pg and sqlite


@pytest.mark.parametrize(
    ("n", "shown"),
    [(100_000, "100k"), (1_000_000, "1M"), (10_000_000, "10M"), (2_500_000, "2.5M"), (999, "999")],
)
def test_sizes_read_as_people_write_them(table: ModuleType, n: int, shown: str) -> None:
    assert table.human_size(n) == shown


def test_a_file_without_figures_says_what_was_expected(
    table: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "out.jsonl"
    empty.write_text("only text\n")
    assert table.main([str(empty)]) == 1
    assert "JSON lines" in capsys.readouterr().out
