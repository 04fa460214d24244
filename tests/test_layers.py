"""sendpool's shape, checked: layers only import downwards, no import cycles, small modules.

Layers, lowest first; a module may import its own layer and the ones below,
never one above. The layer of a module is that of the longest prefix listed.
Every arrow counts: those that run on load, those under ``TYPE_CHECKING``
(a cycle the type checker needs is still two modules that know each other)
and those inside functions; only a deferred arrow may be excused, by name
and with its reason, in ``KNOWN_DEFERRED``.
"""

from __future__ import annotations

import pytest

from tests.support.imports import PACKAGE, Arrow, arrows, cycles, module_paths

LAYERS: list[list[str]] = [
    ["sendpool.core"],
    ["sendpool.errors", "sendpool.config", "sendpool.secretbox", "sendpool.metrics"],
    ["sendpool.store", "sendpool.transports", "sendpool.content", "sendpool.sinks"],
    ["sendpool.pipeline", "sendpool.runtime"],
    ["sendpool.services"],
    ["sendpool.scheduler", "sendpool.http.context"],
    ["sendpool.api", "sendpool.web"],
    ["sendpool.http.app", "sendpool.serve"],
    ["sendpool.cli"],
]
# Packages that only hold their docstring: they belong to no layer and import nothing.
UNLAYERED_PACKAGES = {"sendpool", "sendpool.http"}
# (importer, imported) -> why the import waits until a function runs.
KNOWN_DEFERRED: dict[tuple[str, str], str] = {
    ("sendpool.transports.registry", "sendpool.transports.builtin"): (
        "builtin imports each transport module, and each registers itself with the "
        "registry on import; loading builtin on first lookup breaks that loop"
    ),
}
SERVICE_DOMAINS = {
    "servers", "tenancy", "lists", "campaigns", "messages", "pool", "access", "operations",
    "inbound", "webhooks",
}  # fmt: skip
SERVICES_TOP_LEVEL = {"__init__.py", "errors.py", "refs.py"}
MAX_LINES = 400


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), number)
    return None if best is None else best[1]


@pytest.fixture(scope="module")
def all_arrows() -> list[Arrow]:
    return arrows()


def test_every_module_has_a_layer(all_arrows: list[Arrow]) -> None:
    unlayered = sorted(m for m in module_paths() if layer_of(m) is None)
    assert unlayered == sorted(UNLAYERED_PACKAGES)
    touching = [str(a) for a in all_arrows if {a.importer, a.imported} & UNLAYERED_PACKAGES]
    assert touching == []


def test_no_arrow_points_to_a_higher_layer(all_arrows: list[Arrow]) -> None:
    upward = []
    for a in all_arrows:
        low, high = layer_of(a.importer), layer_of(a.imported)
        if low is not None and high is not None and high > low:
            upward.append(f"layer {low} imports layer {high}: {a}")
    assert upward == []


def test_no_import_cycle_on_load(all_arrows: list[Arrow]) -> None:
    """Imports that run on load or for the type checker: never a cycle, no exceptions."""
    assert cycles({(a.importer, a.imported) for a in all_arrows if a.kind != "deferred"}) == []


def test_no_import_cycle_even_through_functions(all_arrows: list[Arrow]) -> None:
    edges = {(a.importer, a.imported) for a in all_arrows} - set(KNOWN_DEFERRED)
    assert cycles(edges) == []


def test_the_known_exceptions_are_still_deferred_imports(all_arrows: list[Arrow]) -> None:
    """An excuse outlives its import only by mistake; and it never excuses a load-time import."""
    deferred = {(a.importer, a.imported) for a in all_arrows if a.kind == "deferred"}
    on_load = {(a.importer, a.imported) for a in all_arrows if a.kind != "deferred"}
    assert set(KNOWN_DEFERRED) <= deferred
    assert set(KNOWN_DEFERRED) & on_load == set()


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in module_paths().values()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_services_live_in_domain_folders() -> None:
    services = PACKAGE / "services"
    misplaced = []
    for path in sorted(services.rglob("*.py")):
        parts = path.relative_to(services).parts
        if len(parts) == 1 and parts[0] not in SERVICES_TOP_LEVEL:
            misplaced.append(f"{path.name}: not in a domain folder")
        elif len(parts) > 1 and parts[0] not in SERVICE_DOMAINS:
            misplaced.append(f"{'/'.join(parts)}: {parts[0]} is not one of the domains")
    assert misplaced == []


def test_the_checks_see_the_whole_package(all_arrows: list[Arrow]) -> None:
    """Guard the guard: if parsing missed most modules or arrows, every check would pass."""
    modules = module_paths()
    assert {"sendpool.core.dispatcher", "sendpool.pipeline.worker", "sendpool.cli.app"} <= set(
        modules
    )
    importers = {a.importer for a in all_arrows}
    assert len(importers) > len(modules) / 2
    kinds = {a.kind for a in all_arrows}
    assert "top" in kinds and "deferred" in kinds


def test_cycles_finds_each_group_once() -> None:
    edges = {("a", "b"), ("b", "a"), ("b", "c"), ("c", "d"), ("d", "c"), ("e", "a")}
    assert cycles(edges) == [["a", "b"], ["c", "d"]]
    assert cycles({("a", "b"), ("b", "c")}) == []
