"""The end-to-end campaign tests on PostgreSQL, with the SQL ledger and with Redis."""

from __future__ import annotations

import pytest

from tests.e2e.test_campaign_e2e import *  # noqa: F403

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(params=["postgresql", "postgresql+redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
