"""bench/scale.py's ledger figure drives reserve.lua as the ledger calls it: the bench cannot rot.

The script's keys and arguments grow with the ledger; a bench that passes the
old ones gets an error back from every call and fails after the whole
throughput part has run. Here the script must grant a unit on every request.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
import redis

from sendpool.core.windows import windows_at
from sendpool.store.ledger_redis import Keys
from tests.support.services import PrivateRedis

pytestmark = pytest.mark.services

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_scale(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))  # its own siblings: campaign, databases, sinks
    spec = importlib.util.spec_from_file_location("sendpool_bench_scale", BENCH / "scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look it up by name
    spec.loader.exec_module(module)
    return module


def test_the_script_figure_grants_a_unit_per_request(
    monkeypatch: pytest.MonkeyPatch, redis_server: PrivateRedis
) -> None:
    scale = load_scale(monkeypatch)
    assert scale.script_benchmark(redis_server.url, requests=500) > 0
    client = redis.Redis.from_url(redis_server.url)
    try:
        day = windows_at(datetime.now(UTC)).day
        assert int(client.get(Keys("rb").counter(1, day)) or 0) == 500
    finally:
        client.close()
