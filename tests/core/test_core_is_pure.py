"""The core decides and never does: no I/O libraries, no clock, no randomness of its own.

What the core may import is an allowlist: the standard library modules it
needs, named one by one, and ``sendpool.core`` itself. A new import is a
decision to make here, in review, not something that slips in.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import sendpool.core

CORE = Path(sendpool.core.__file__).parent
ALLOWED_STDLIB = {
    "__future__",
    "base64",  # return-path tokens are base32 text: encoding only
    "collections",  # collections.abc only: Mapping, Sequence, Iterable
    "dataclasses",
    "datetime",  # types and arithmetic; reading the clock is checked below
    "email",  # parsing reports from bytes in memory; the core never sends or reads a socket
    "enum",
    "functools",
    "hashlib",  # SHA-256 for the return-path MAC: a function of its input
    "heapq",  # the smooth weighted period by earliest deadline: pure, O(W log n)
    "hmac",  # the return-path MAC and its constant-time check; the key is an argument
    "itertools",  # islice and chain over a report's lazily read blocks
    "json",  # vendor webhook bodies, parsed from bytes in memory
    "math",
    "re",  # the status codes and bounce wording inside report text
    "typing",
    "urllib",  # urllib.parse only: pinning an SNS certificate's or subscription's URL
    "zoneinfo",  # a server's calendar windows are in its own time zone
}
# Libraries that compute and do nothing else: vendor signatures are checked with the
# key and the bytes as arguments (RSA for SNS, ECDSA P-256 for SendGrid).
ALLOWED_LIBRARIES = {"cryptography"}
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


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """Each name ``path`` imports, absolute: ``from a import b`` gives ``a.b``."""
    package = list(path.relative_to(CORE.parent.parent).with_suffix("").parts)
    package = package if package[-1] == "__init__" else package[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package[: len(package) - (node.level - 1)]
                base = ".".join([p for p in up if p != "__init__"] + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}" if base else alias.name


def _allowed(name: str) -> bool:
    return (
        name == "sendpool.core"
        or name.startswith("sendpool.core.")
        or (name.split(".")[0] in ALLOWED_STDLIB)
        or (name.split(".")[0] in ALLOWED_LIBRARIES)
    )


def test_core_imports_only_the_allowlist() -> None:
    offenders = [
        f"{path.relative_to(CORE)}:{line}: imports {name}"
        for path in _modules()
        for line, name in _imported(path)
        if not _allowed(name)
    ]
    assert offenders == []


def test_the_allowlist_is_standard_library_and_nothing_forbidden() -> None:
    assert ALLOWED_STDLIB <= set(sys.stdlib_module_names) | {"__future__"}
    assert ALLOWED_STDLIB & FORBIDDEN_MODULES == set()


def test_the_allowlist_names_nothing_the_core_does_not_use() -> None:
    used = {name.split(".")[0] for path in _modules() for _, name in _imported(path)}
    assert ALLOWED_STDLIB - used == set()


def test_the_allowlist_is_not_fooled_by_a_shared_prefix() -> None:
    # "sendpool.corex" starts with "sendpool.core" but is not the core.
    assert not _allowed("sendpool.store.queue")
    assert not _allowed("sendpool")
    assert not _allowed("sendpool.corex")
    assert _allowed("sendpool.core.windows") and _allowed("datetime.timedelta")


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
    assert {"dispatcher", "round_robin", "windows", "warmup", "outcomes"} <= names
