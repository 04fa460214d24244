"""Fixtures of the inbound tests: a report handler that records what it was handed."""

from __future__ import annotations

import pytest

from tests.inbound.recorder import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
