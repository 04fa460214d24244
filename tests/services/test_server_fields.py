"""One definition of a server's fields: the pool file, the API and the admin form refuse alike.

Each row is one bad value; the pool file, the API's create and patch bodies
and the new-server form must all refuse it, naming the same field, and leave
the database as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from sendpool.errors import ConfigError
from sendpool.runtime import Runtime
from sendpool.services.access import admins
from sendpool.services.pool.file import parse_pool
from sendpool.services.servers.fields import COMMON, MAX_COUNT, ServerFields
from sendpool.web import forms
from tests.support.admin_world import EMAIL, PASSWORD, Web
from tests.support.settings import make_settings
from tests.support.snapshots import db_snapshot
from tests.support.world import client_for
from tests.support.world_template import Template, build_world_template, copy_database
from tests.web.test_forms import SMTP, errors

SRV = "/api/v1/admin/sending-servers"
WARMUP = {"start_daily": 10, "growth_percent": 50, "target_daily": 900, "started_on": "2026-01-01"}
POOL_SERVER = {"name": "relay-a", "type": "smtp", "host": "127.0.0.1", "sending_limit": 10}
API_SERVER = {"name": "new-1", "type": "smtp", "host": "127.0.0.1", "sending_limit": 10}


@dataclass(frozen=True)
class Rule:
    label: str
    key: str  # the common key the bad value is given for
    value: Any  # as JSON and TOML carry it
    field: str  # the field every face must name
    form: str | None = None  # as typed in the form; None: the form cannot say it


def _flat(key: str, value: Any) -> dict[str, str]:
    """The form inputs for one key (a warm-up or a mailbox is several inputs)."""
    if isinstance(value, dict):
        prefix = {"warmup": {"warmup.on": "on"}}.get(key, {})
        return {**prefix, **{f"{key}.{k}": str(v) for k, v in value.items()}}
    return {key: str(value)}


RULES = [
    Rule("negative daily limit", "sending_limit", -1, "sending_limit", "-1"),
    Rule("daily limit over the cap", "sending_limit", MAX_COUNT + 1, "sending_limit", str(MAX_COUNT + 1)),
    Rule("negative hourly limit", "hourly_limit", -5, "hourly_limit", "-5"),
    Rule("hourly limit over the cap", "hourly_limit", MAX_COUNT + 1, "hourly_limit", str(MAX_COUNT + 1)),
    Rule("zero rate", "rate_per_second", 0.0, "rate_per_second", "0"),
    Rule("rate over the cap", "rate_per_second", 2_000_000.0, "rate_per_second", "2000000"),
    Rule("no connections", "max_connections", 0, "max_connections", "0"),
    Rule("too many connections", "max_connections", 201, "max_connections", "201"),
    Rule("no messages per connection", "max_messages_per_connection", 0, "max_messages_per_connection", "0"),
    Rule("unknown time zone", "timezone", "Mars/Olympus", "timezone", "Mars/Olympus"),
    Rule("oversized time zone", "timezone", "Z" * 65, "timezone", "Z" * 65),
    Rule("bad sender", "default_from_email", "nope", "default_from_email", "nope"),
    Rule("oversized name", "name", "n" * 201, "name", "n" * 201),
    Rule("control character in name", "name", "a\x07b", "name", "a\x07b"),
    Rule("unknown status", "status", "suspended", "status"),
    Rule("string for a limit", "sending_limit", "10", "sending_limit"),
    Rule("negative warm-up start", "warmup", {**WARMUP, "start_daily": -5}, "warmup.start_daily", ""),
    Rule("warm-up target over the cap", "warmup", {**WARMUP, "target_daily": MAX_COUNT + 1}, "warmup.target_daily", ""),
    Rule("warm-up growth over 1000 %", "warmup", {**WARMUP, "growth_percent": 5000.0}, "warmup.growth_percent", ""),
    Rule("warm-up gate above 1", "warmup", {**WARMUP, "gate_bounce_rate": 2.0}, "warmup.gate_bounce_rate", ""),
    Rule("warm-up date that is not one", "warmup", {**WARMUP, "started_on": "soon"}, "warmup.started_on", ""),
]  # fmt: skip


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    t = build_world_template(tmp_path_factory.mktemp("fields-world"))
    rt = Runtime.open(make_settings(t.path.parent, secret_key=t.key))

    def add_admin(conn: Connection) -> None:
        admins.create_admin(
            conn,
            email=EMAIL,
            password_hash=admins.hash_password(PASSWORD),
            actor="t",
            now=datetime.now(UTC),
        )

    try:
        rt.db.transaction(add_admin)
    finally:
        rt.close()
    return t


@pytest.fixture
async def web(template: Template, tmp_path: Path) -> AsyncIterator[tuple[Web, dict[str, str]]]:
    rt = Runtime.open(copy_database(template.path, template.key, tmp_path))
    try:
        async with client_for(rt) as client:
            w = Web(rt, client, dict(template.ids))
            assert (await w.login()).status_code == 303
            yield w, {"Authorization": f"Bearer {template.tokens['admin']}"}
    finally:
        rt.close()


def pool_refusal(key: str, value: Any) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_pool({"servers": [{**POOL_SERVER, key: value}]}, {})
    return str(refused.value)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.label)
async def test_every_face_refuses_the_same_value_naming_the_same_field(
    web: tuple[Web, dict[str, str]], rule: Rule
) -> None:
    w, auth = web
    before = db_snapshot(w.rt)

    assert f"servers.0.{rule.field}:" in pool_refusal(rule.key, rule.value)

    created = await w.client.post(SRV, json={**API_SERVER, rule.key: rule.value}, headers=auth)
    assert created.status_code == 422, created.text
    assert rule.field in [e["field"] for e in created.json()["errors"]], created.json()
    uid = w.ids["server_smtp"]
    patched = await w.client.patch(f"{SRV}/{uid}", json={rule.key: rule.value}, headers=auth)
    assert patched.status_code == 422, patched.text
    assert rule.field in [e["field"] for e in patched.json()["errors"]], patched.json()

    if rule.form is not None:
        typed = {rule.key: rule.form} if rule.form else _flat(rule.key, rule.value)
        response = await w.post("/admin/servers/new", {**SMTP, **typed})
        assert response.status_code == 422
        assert rule.field in errors(response), errors(response)
    assert db_snapshot(w.rt) == before


def test_the_pool_files_enabled_is_an_alias_of_status() -> None:
    _, (decl,) = parse_pool({"servers": [{**POOL_SERVER, "enabled": False}]}, {})
    assert decl.values["status"] == "disabled"
    _, (decl,) = parse_pool({"servers": [{**POOL_SERVER, "status": "disabled"}]}, {})
    assert decl.values["status"] == "disabled"
    _, (decl,) = parse_pool({"servers": [POOL_SERVER]}, {})
    assert decl.values["status"] == "active"
    assert "servers.0.enabled:" in pool_refusal("enabled", "yes")
    with pytest.raises(ConfigError, match="not both"):
        parse_pool({"servers": [{**POOL_SERVER, "enabled": True, "status": "active"}]}, {})


def test_every_face_offers_the_same_common_keys_and_defaults() -> None:
    from sendpool.api.schemas.servers import ServerCommon, ServerOutCommon, ServerPatch
    from sendpool.services.pool.file import ServerIn

    names = {d.name for d in COMMON}
    assert (
        set(ServerPatch.model_fields)
        == names
        == set(ServerFields.model_fields)
        | {
            "bounce_handler",
            "fbl_handler",
        }
    )
    assert set(ServerCommon.model_fields) == names - {"type"}
    assert names - {"type"} <= set(ServerOutCommon.model_fields)
    # plans are listed under [[plans]] and mailboxes are set from the API and the pages
    assert set(ServerIn.model_fields) == names - {"plans", "bounce_handler", "fbl_handler"} | {
        "enabled"
    }
    for d in COMMON:
        if d.name in ServerCommon.model_fields:
            api = ServerCommon.model_fields[d.name]
            assert api.is_required() == d.required, d.name
            if not d.required:
                assert api.get_default() == d.default, d.name
    shown = {f.name for f in forms.CONFIG_FIELDS}
    assert shown == names - {
        "type",
        "status",
        "warmup",
        "plans",
        "bounce_handler",
        "fbl_handler",
    } | {"enabled"}
    required = {f.name for f in forms.CONFIG_FIELDS if f.required}
    assert required == {d.name for d in COMMON if d.name in shown and not d.nullable}
