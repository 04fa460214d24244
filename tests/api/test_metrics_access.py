"""Who may read /metrics: anyone by default, a bearer token's holder once one is set.

SENDPOOL_METRICS_TOKEN makes every scrape carry `Authorization: Bearer <token>`
(what Prometheus sends with `authorization: credentials_file`);
SENDPOOL_METRICS_BIND moves /metrics off the API port to an address of its own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from sendpool.api.metrics import counters_app
from sendpool.cli.worker import _serve_workers
from sendpool.config import Settings
from sendpool.metrics import MESSAGES
from sendpool.runtime import Runtime
from sendpool.serve import bind, create_metrics_app, serve_api
from sendpool.services.operations.doctor_checks import Status
from sendpool.services.operations.metrics_access import check_metrics
from tests.support.cli_env import CliEnv
from tests.support.live_process import free_port
from tests.support.settings import make_settings
from tests.support.world import client_for

TOKEN = "q9Zt3-metrics-token-for-tests-7Hk2"


def asgi(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")  # type: ignore[arg-type]


async def get(rt: Runtime, path: str, authorization: str | bytes | None = None) -> httpx.Response:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with client_for(rt) as client:
        return await client.get(path, headers=headers)


async def test_without_settings_metrics_stay_open_as_before(tmp_path: Path) -> None:
    with Runtime.open(make_settings(tmp_path)) as rt:
        r = await get(rt, "/metrics")
        assert r.status_code == 200 and "sendpool_queue_depth" in r.text
        assert (await get(rt, "/metrics", "Bearer anything")).status_code == 200
        assert (await get(rt, "/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),  # the scheme is matched whatever its case (RFC 7235)
        (f"Bearer  {TOKEN} ", 200),
        (None, 401),  # missing
        ("Bearer", 401),
        ("Bearer ", 401),
        ("Bearer wrong-token", 401),
        (f"Bearer {TOKEN[:-1]}", 401),  # one character short
        (f"Bearer {TOKEN}x", 401),
        (TOKEN, 401),  # no scheme
        ("Basic " + base64.b64encode(f"prometheus:{TOKEN}".encode()).decode(), 401),
        ("Bearer " + "x" * 8192, 401),  # oversized: refused before it is compared
        (f"Bearer {TOKEN}" + " " * 2000, 401),
        ("Bearer tökén".encode(), 401),  # not ASCII: still a plain no
    ],
)
async def test_a_token_guards_metrics(
    tmp_path: Path, authorization: str | bytes | None, status: int
) -> None:
    with Runtime.open(make_settings(tmp_path, metrics_token=TOKEN)) as rt:
        r = await get(rt, "/metrics", authorization)
        assert r.status_code == status, r.text
        if status == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "sendpool_" not in r.text
        else:
            assert "sendpool_queue_depth" in r.text
        assert (await get(rt, "/healthz")).status_code == 200  # stays open


def test_a_token_read_from_a_file_loses_its_newline() -> None:
    # Prometheus trims its credentials_file; an env file or a secret file may end in "\n".
    assert Settings(metrics_token=f"{TOKEN}\n").metrics_token == TOKEN
    assert Settings(metrics_token="").metrics_token is None
    assert Settings(metrics_bind=" ").metrics_bind is None


async def test_with_a_bind_address_the_api_port_answers_404(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_bind="127.0.0.1:9108", metrics_token=TOKEN)
    with Runtime.open(settings) as rt:
        assert (await get(rt, "/metrics", f"Bearer {TOKEN}")).status_code == 404
        assert (await get(rt, "/healthz")).status_code == 200
        async with asgi(create_metrics_app(rt)) as listener:
            ok = await listener.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200 and "sendpool_queue_depth" in ok.text
            denied = await listener.get("/metrics")
            assert denied.status_code == 401 and "www-authenticate" in denied.headers
            for path in ("/healthz", "/docs", "/api/v1/me", "/admin"):
                assert (await listener.get(path)).status_code == 404  # /metrics only


async def test_the_workers_counters_take_the_token_too() -> None:
    MESSAGES.labels("sent", "relay").inc(0)
    async with asgi(counters_app(TOKEN)) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "sendpool_messages_total" in ok.text
    async with asgi(counters_app(None)) as client:
        assert (await client.get("/metrics")).status_code == 200  # as before without a token


async def until_answers(client: httpx.AsyncClient, url: str) -> None:
    async with asyncio.timeout(60):  # a hang guard, not a speed check
        while True:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.ConnectError:
        return True
    return False


@pytest.mark.slow
async def test_serve_answers_metrics_on_its_own_address_and_stops_it_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = make_settings(tmp_path, metrics_bind=f"127.0.0.1:{port}", metrics_token=TOKEN)
    with Runtime.open(settings) as rt:
        sock = bind("127.0.0.1", 0)
        api = f"http://127.0.0.1:{sock.getsockname()[1]}"
        metrics = f"http://127.0.0.1:{port}/metrics"
        said: list[str] = []
        task = asyncio.create_task(serve_api(rt, sock, workers=False, announce=said.append))
        async with httpx.AsyncClient() as client:
            await until_answers(client, api + "/healthz")
            await until_answers(client, metrics)
            auth = {"Authorization": f"Bearer {TOKEN}"}
            r = await client.get(metrics, headers=auth)
            assert r.status_code == 200 and "sendpool_server_health" in r.text
            assert (await client.get(metrics)).status_code == 401
            assert (await client.get(api + "/metrics", headers=auth)).status_code == 404
            assert (await client.get(api + "/healthz")).status_code == 200
        assert f"metrics at {metrics}" in said[0]
        os.kill(os.getpid(), signal.SIGTERM)  # the handlers serve_api installed stop both
        await asyncio.wait_for(task, 60)
    assert refused(metrics) and refused(api + "/healthz")


@pytest.mark.slow
async def test_worker_metrics_port_needs_the_token_and_stops_with_the_workers(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    with Runtime.open(settings) as rt:
        sock: socket.socket = bind("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/metrics"
        task = asyncio.create_task(_serve_workers(rt, 1, sock))
        async with httpx.AsyncClient() as client:
            await until_answers(client, url)
            assert (await client.get(url)).status_code == 401
            ok = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200 and "sendpool_messages_total" in ok.text
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, 60)
    assert refused(url)


@pytest.mark.parametrize(
    ("settings", "status"),
    [
        ({}, None),  # the default: the API on loopback, nothing to say
        ({"metrics_token": TOKEN}, Status.OK),
        ({"metrics_bind": "127.0.0.1:9108"}, Status.OK),
        ({"metrics_bind": "[::1]:9108"}, Status.OK),
        ({"metrics_bind": "0.0.0.0:9108"}, Status.WARN),
        ({"metrics_bind": "[::]:9108"}, Status.WARN),
        ({"metrics_bind": "metrics.internal:9108"}, Status.WARN),
        ({"metrics_bind": "0.0.0.0:9108", "metrics_token": TOKEN}, Status.OK),
        ({"public_url": "https://mail.example.com"}, Status.WARN),  # the API faces the world
        ({"public_url": "https://mail.example.com", "metrics_token": TOKEN}, Status.OK),
        ({"public_url": "https://mail.example.com", "metrics_bind": "127.0.0.1:9"}, Status.OK),
    ],
)
def test_doctor_warns_when_serve_would_expose_metrics(
    tmp_path: Path, settings: dict[str, str], status: Status | None
) -> None:
    check = check_metrics(make_settings(tmp_path, **settings))
    assert (check.status if check else None) == status
    if status is Status.WARN:
        assert check is not None and check.advice is not None
        assert "SENDPOOL_METRICS_TOKEN" in check.advice and "credentials_file" in check.advice


def test_doctor_shows_the_metrics_warning(cli: CliEnv) -> None:
    with cli.open():
        pass
    cli.setenv("SENDPOOL_METRICS_BIND", "0.0.0.0:9108")
    result = cli.wide().invoke(["doctor"])
    assert result.exit_code == 0, result.output  # a warning, not a failure
    flat = " ".join(result.output.split())
    assert "metrics │ warn │ /metrics on 0.0.0.0:9108 needs no token" in flat, result.output


@pytest.mark.parametrize("value", ["9108", "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:x", ":9108"])
def test_a_bad_bind_address_is_a_clear_error(cli: CliEnv, value: str) -> None:
    cli.setenv("SENDPOOL_METRICS_BIND", value)
    result = cli.invoke(["campaign", "status", "nope"])
    assert result.exit_code == 2
    assert "is not HOST:PORT (give e.g. 127.0.0.1:9108" in " ".join(result.output.split())
