"""A live ``sendpool serve`` on a free loopback port, and Debian's chromium to look at it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.live_process import SENDPOOL, free_port, wait_until_serving
from tests.support.services import REQUIRE_SERVICES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _apt(*args: str) -> None:
    command = ["apt-get", *args]
    if os.geteuid() != 0:
        command = ["sudo", "-n", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=900)


def ensure_chromium() -> str:
    """Debian's chromium, installed on first use; skip (with the reason) only where CI allows."""
    if not Path(CHROMIUM).exists():
        try:
            _apt("update")
            _apt("install", "-y", "chromium")
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            reason = f"cannot install chromium ({exc}): {detail.decode(errors='replace')[-500:]}"
            if REQUIRE_SERVICES:
                pytest.fail(f"{reason}; SENDPOOL_REQUIRE_SERVICES=1 forbids skipping")
            pytest.skip(reason)
    return CHROMIUM


@contextmanager
def serving(env: dict[str, str], folder: Path) -> Iterator[str]:
    """``sendpool serve`` with its workers; yields the base URL and stops it on the way out."""
    port = free_port()
    log = folder / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SENDPOOL, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **env},
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, proc, log)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def save_screenshots(shots: Path, *copies: Path) -> None:
    for folder in copies:
        folder.mkdir(parents=True, exist_ok=True)
        for png in shots.glob("*.png"):
            shutil.copy(png, folder / png.name)
