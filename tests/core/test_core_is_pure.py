"""The core decides and never does: no I/O libraries, no clock, no randomness of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import sendpool.core

CORE = Path(sendpool.core.__file__).parent
FORBIDDEN_MODULES = {
    "sqlalchemy",
    "aiosmtplib",
    "aiosmtpd",
    "httpx",
    "fastapi",
    "asyncio",
    "socket",
    "redis",
    "psycopg",
    "aiobotocore",
    "boto3",
    "random",
    "time",
    "os",
    "subprocess",
    "secrets",
    "ssl",
    "sendpool.store",
    "sendpool.transports",
    "sendpool.pipeline",
    "sendpool.cli",
    "sendpool.services",
    "sendpool.api",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "random", "urandom"}


def _modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_core_imports_no_io_library() -> None:
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_MODULES):
                    offenders.append(f"{path.name}: imports {name}")
    assert offenders == []


def test_core_never_reads_the_clock_or_a_random_source() -> None:
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in FORBIDDEN_CALLS:
                    offenders.append(f"{path.name}:{node.lineno} calls .{node.func.attr}()")
    assert offenders == []


def test_the_check_sees_every_core_module() -> None:
    names = {p.stem for p in _modules()}
    assert {"dispatcher", "rotation", "windows", "warmup", "outcomes"} <= names
