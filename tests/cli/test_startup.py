"""``sendpool`` loads what the command runs: help loads no database, no pipeline, no web stack.

Every ``sendpool`` call is a new interpreter, and importing the runtime, the
sending pipeline, the web stack and their libraries costs over a second of
CPU; help, and a command that reads a few rows, have no use for most of it.
The checks are structural, not timed: a child interpreter runs the CLI as the
``sendpool`` script does and reports the modules it ended up with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer.main
from cryptography.fernet import Fernet

import sendpool
from sendpool.cli.app import app

# What help must not load: sendpool's layers above the CLI's own, and the libraries under them.
# (Not pydantic itself: Typer converts every command's parameters with it.)
HEAVY = (
    "sendpool.runtime", "sendpool.pipeline", "sendpool.services", "sendpool.store",
    "sendpool.transports", "sendpool.content", "sendpool.api", "sendpool.web", "sendpool.http",
    "sendpool.serve", "sendpool.scheduler", "sendpool.config", "sendpool.secretbox",
    "sendpool.metrics", "sendpool.sinks",
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "pydantic_settings",
    "aiosmtplib", "aiosmtpd", "jinja2", "redis", "httpx", "cryptography", "argon2", "dns",
    "prometheus_client", "psycopg", "aiobotocore", "botocore", "email_validator",
)  # fmt: skip
# What a command that only reads and writes rows must not load: the sending and serving stack.
SENDING = (
    "sendpool.runtime", "sendpool.pipeline.worker", "sendpool.pipeline.dispatch",
    "sendpool.api", "sendpool.web", "sendpool.serve", "fastapi", "starlette", "uvicorn",
    "aiosmtpd", "redis",
)  # fmt: skip

# Runs each argument list as `sendpool ARGS...` would, in one interpreter, then writes the
# exit codes and every module loaded to the file named first.
PROBE = """
import json, sys
from sendpool.cli.app import main

out, runs = sys.argv[1], json.loads(sys.argv[2])
codes = []
for args in runs:
    sys.argv = ["sendpool", *args]
    try:
        main()
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code if isinstance(exc.code, int) else 1)
with open(out, "w") as fh:
    json.dump({"codes": codes, "modules": sorted(sys.modules)}, fh)
"""


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """The modules of ``names`` (packages and everything under them) that are loaded."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def probe(tmp_path: Path, runs: list[list[str]], **env: str) -> dict[str, Any]:
    """Run ``runs`` in a child interpreter importing this sendpool, with only ``env`` set."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("SENDPOOL_")}
    root = str(Path(sendpool.__file__).resolve().parents[1])
    child["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [child.get("PYTHONPATH")])])
    child.update(env)
    out = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), json.dumps(runs)],
        cwd=tmp_path, env=child, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def help_runs() -> list[list[str]]:
    """``sendpool`` alone, and ``--help`` of every group and command, hidden ones too."""
    runs: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            runs.append([*path, name, "--help"])
            walk(sub, [*path, name])

    runs.append(["--help"])
    walk(typer.main.get_command(app), [])
    return runs


def test_the_probe_sees_what_is_loaded() -> None:
    modules = ["sendpool.store", "sendpool.store.db", "sendpool.storefront", "fastapi", "typer"]
    assert loaded(modules, ("sendpool.store", "fastapi")) == [
        "fastapi",
        "sendpool.store",
        "sendpool.store.db",
    ]


def test_importing_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    result = probe(tmp_path, [])
    assert "sendpool.cli.app" in result["modules"]
    assert loaded(result["modules"], HEAVY) == []


def test_help_of_every_command_loads_nothing_heavy(tmp_path: Path) -> None:
    runs = help_runs()
    assert ["campaign", "run", "--help"] in runs and [
        "customers",
        "domains",
        "add",
        "--help",
    ] in runs
    result = probe(tmp_path, runs)
    assert result["codes"] == [2] + [0] * (len(runs) - 1)  # bare `sendpool`: help, exit 2
    assert loaded(result["modules"], HEAVY) == []


def test_a_command_that_reads_rows_loads_the_store_not_the_sending_stack(tmp_path: Path) -> None:
    env = {
        "SENDPOOL_DATABASE_URL": f"sqlite:///{tmp_path}/sendpool.db",
        "SENDPOOL_SECRET_KEY": Fernet.generate_key().decode(),
    }
    runs = [["migrate"], ["token", "list"], ["campaign", "list"], ["admin", "list"]]
    result = probe(tmp_path, runs, **env)
    assert result["codes"] == [0, 0, 0, 0]
    assert (tmp_path / "sendpool.db").exists()
    assert "sendpool.store.database" in result["modules"]
    assert loaded(result["modules"], SENDING) == []
