"""The chaos bench runs, and its targets hold, on a small SQLite campaign: it cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "chaos.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sendpool_bench_chaos", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_baseline_slow_relay_and_blackhole_pass_on_sqlite() -> None:
    chaos = load_bench()
    rows = {s.name: s for s in chaos.matrix()}
    picked = [
        chaos.scenario_on(rows[name], chaos.SQLITE, 2)
        for name in ("baseline", "slow relay, lease 5 s", "blackhole relay")
    ]
    found = chaos.run(picked, 300, timeout=90)
    for v in found:
        assert v.ok, (v.row.name, v.misses, chaos.as_json(v))
        assert v.row.sent == 300 and v.row.lost == 0
    slow, hole = found[1].row, found[2].row
    assert next(s for s in slow.servers if s.name == "slow").delivered == 9, "it filled its cap"
    assert next(s for s in hole.servers if s.name == "blackhole").used == 0, "units came back"
    assert found[0].ratio == 1.0


def test_a_row_that_misses_a_target_says_which_numbers() -> None:
    chaos = load_bench()
    parts = sys.modules["chaos_parts"]  # loaded beside the bench
    row = chaos.RowResult("x", chaos.SQLITE, 2, 100, undeclared=3, burned=2)
    row.servers = [parts.ServerTally("capped", 25, 27, 29, over=4, burned=2)]
    misses = chaos.judge(chaos.Scenario("x", chaos.SQLITE, 2), row)
    assert misses == [
        "capped over cap by 4: 27 delivered, 29 units used, cap 25",
        "3 undeclared duplicates in a row without a crash",
        "2 units burned (capped 2) > 0 handed over at crashes + 0 lost replies",
    ]
