"""For tests that start ``sendpool`` as a real process: its path, a port, waiting for it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

SENDPOOL = str(Path(sys.executable).with_name("sendpool"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``base``/healthz answers 200; fails with the process's log if it exits first."""
    deadline = time.monotonic() + 120  # a hang guard for a slow machine, not a speed check
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "sendpool serve never answered /healthz"
        time.sleep(0.1)
