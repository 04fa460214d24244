"""Fixtures for the admin pages: the API tests' world plus an admin user, copied per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sendpool.runtime import Runtime
from tests.support.admin_world import Web, WebTemplate, build_web_template
from tests.support.world import client_for
from tests.support.world_template import copy_database


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> WebTemplate:
    return build_web_template(tmp_path_factory.mktemp("web-world"))


@pytest.fixture
async def web(web_template: WebTemplate, tmp_path: Path) -> AsyncIterator[Web]:
    rt = Runtime.open(copy_database(web_template.path, web_template.key, tmp_path))
    try:
        async with client_for(rt) as client:
            yield Web(rt, client, dict(web_template.ids))
    finally:
        rt.close()


@pytest.fixture
async def admin(web: Web) -> Web:
    """The same, signed in."""
    response = await web.login()
    assert response.status_code == 303, response.text
    return web
