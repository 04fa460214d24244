"""The start-up step that keeps the cyclic collector out of send loops and requests.

Each check runs in a fresh interpreter: the step is once per process, and the
test process itself may have been through it already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from sendpool.pipeline.collector import GEN0_THRESHOLD


def run_fresh(code: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_the_first_start_freezes_and_raises_the_threshold_once() -> None:
    got = run_fresh(
        """
        import gc, json
        from sendpool.pipeline.collector import calm_gc
        before = gc.get_threshold()
        first = calm_gc()
        frozen = gc.get_freeze_count()
        after = gc.get_threshold()
        made_later = [[i] for i in range(1000)]
        second = calm_gc()
        print(json.dumps({
            "before": before, "after": after, "first": first, "second": second,
            "frozen": frozen, "frozen_after": gc.get_freeze_count(),
        }))
        """
    )
    assert got["first"] is True and got["second"] is False
    assert got["after"] == [GEN0_THRESHOLD, *got["before"][1:]]  # type: ignore[index]
    assert got["frozen"] > 1000  # type: ignore[operator]  # what start-up made: modules, ...
    assert got["frozen_after"] == got["frozen"]  # a second start freezes nothing more


def test_cycles_made_after_the_start_are_still_collected() -> None:
    got = run_fresh(
        """
        import gc, json, weakref
        from sendpool.pipeline.collector import calm_gc
        calm_gc()

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        before = alive() is not None
        gc.collect()
        print(json.dumps({"before": before, "after": alive() is not None}))
        """
    )
    assert got == {"before": True, "after": False}


def test_a_worker_calms_the_collector_when_it_starts() -> None:
    got = run_fresh(
        """
        import asyncio, gc, json, tempfile
        from sendpool.config import Settings
        from sendpool.runtime import Runtime

        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime.open(Settings(database_url=f"sqlite:///{tmp}/t.db", secret_key=None))
            before = gc.get_freeze_count()

            async def start_and_stop() -> None:
                stop = asyncio.Event()
                stop.set()
                await rt.worker(health_checks=False).run(stop)

            asyncio.run(start_and_stop())
            rt.close()
        print(json.dumps({"before": before, "after": gc.get_freeze_count(),
                          "gen0": gc.get_threshold()[0]}))
        """
    )
    assert got["before"] == 0
    assert got["after"] > 0  # type: ignore[operator]
    assert got["gen0"] == GEN0_THRESHOLD


def test_a_serve_without_workers_calms_the_collector_once_its_app_is_built() -> None:
    got = run_fresh(
        """
        import asyncio, gc, json, os, signal, tempfile
        from sendpool.config import Settings
        from sendpool.runtime import Runtime
        from sendpool.serve import bind, serve_api

        with tempfile.TemporaryDirectory() as tmp:
            rt = Runtime.open(Settings(database_url=f"sqlite:///{tmp}/t.db", secret_key=None))
            before = gc.get_freeze_count()
            seen = {}

            def announced(_line: str) -> None:  # said once serving: look, then stop
                seen["frozen"] = gc.get_freeze_count()
                seen["gen0"] = gc.get_threshold()[0]
                asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

            asyncio.run(serve_api(rt, bind("127.0.0.1", 0), workers=False, announce=announced))
            rt.close()
        print(json.dumps({"before": before, **seen}))
        """
    )
    assert got["before"] == 0
    assert got["frozen"] > 1000  # type: ignore[operator]  # the web stack's modules and models
    assert got["gen0"] == GEN0_THRESHOLD
