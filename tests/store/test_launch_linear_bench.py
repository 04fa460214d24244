"""bench/launch_rss.py refuses sizes it cannot run, and prints its figures as the contract says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "launch_rss.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--sizes", "0"], "between 1 and"),
        (["--sizes", "200M"], "between 1 and"),
        (["--sizes", "ten"], "not a size"),
        (["--sizes", ","], "at least one size"),
        (["--sizes"], "expected one argument"),
        (["--db", "mysql", "--sizes", "1k"], "sqlite and/or postgresql"),
        (["--db", "", "--sizes", "1k"], "sqlite and/or postgresql"),
        (["5", "--sizes", "1k"], "not both"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(args: list[str], said: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_a_small_run_prints_one_json_figure_a_line_and_the_summary_pipeline_reads() -> None:
    done = run("300")  # the form bench/pipeline.py uses: one size, on SQLite
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert {line["bench"] for line in lines} == {"launch_rss"}
    assert all(set(line) >= {"figure", "value", "unit", "size", "db"} for line in lines)
    names = [line["figure"] for line in lines]
    assert names == [
        "import_s_per_million",
        "import_cpu_s_per_million",
        "launch_s_per_million",
        "launch_cpu_s_per_million",
        "claim_ms",
        "claim_plan_ok",
        "rss_growth_mb",
        "peak_rss_mb",
    ]
    assert lines[names.index("claim_plan_ok")]["value"] == 1.0
    last = lines[-1]
    assert last["size"] == 300 and last["db"] == "sqlite"
    assert last["import_s"] > 0 and last["launch_s"] > 0
    assert last["rss_peak_mb"] >= last["rss_after_import_mb"] > 0
