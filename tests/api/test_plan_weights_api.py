"""A plan's selector and weights through the admin API: shown, accepted, bad input refused whole."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import World

ADMIN = "/api/v1/admin"


async def admin(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, ADMIN + path, headers=world.auth("admin"), **kwargs)


def members(body: dict[str, Any]) -> dict[str, tuple[int, float]]:
    return {s["name"]: (s["weight"], s["share"]) for s in body["servers"]}


async def test_create_and_patch_weights_and_selector(world: World) -> None:
    body = {
        "name": "Weighted",
        "servers": ["ses-1", "postmark-1"],
        "selector": "smooth_weighted",
        "weights": {"ses-1": 7, world.ids["server_postmark"]: 3},  # by name or by uid
    }
    r = await admin(world, "POST", "/plans", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["selector"] == "smooth_weighted"
    assert members(r.json()) == {"postmark-1": (3, 0.3), "ses-1": (7, 0.7)}
    uid = r.json()["uid"]
    r = await admin(world, "PATCH", f"/plans/{uid}", json={"weights": {"ses-1": 1}})
    assert members(r.json()) == {"postmark-1": (3, 0.75), "ses-1": (1, 0.25)}
    r = await admin(world, "PATCH", f"/plans/{uid}", json={"selector": "round_robin"})
    assert r.json()["selector"] == "round_robin" and members(r.json())["ses-1"][0] == 1


@pytest.mark.parametrize(
    ("patch", "field", "said"),
    [
        ({"weights": {"ses-1": 0}}, "weights.ses-1", "from 1 to 1000, not 0"),
        ({"weights": {"ses-1": 1001}}, "weights.ses-1", "from 1 to 1000, not 1001"),
        ({"weights": {"ses-1": "3"}}, "weights.ses-1", "whole number"),
        ({"weights": {"postmark-1": 2}}, "weights.postmark-1", "not in the plan"),
        ({"weights": {"nope": 2}}, "weights.nope", "nope"),
        ({"selector": "fastest"}, "selector", "unknown selector 'fastest'; use one of"),
        ({"selector": None}, "selector", "must not be null"),
    ],
    ids=["zero", "1001", "string", "not-in-plan", "unknown-server", "selector", "null"],
)
async def test_bad_input_is_refused_and_changes_nothing(
    world: World, patch: dict[str, Any], field: str, said: str
) -> None:
    r = await admin(world, "POST", "/plans", json={"name": "W", "servers": ["ses-1"]})
    uid = r.json()["uid"]
    before = (await admin(world, "GET", f"/plans/{uid}")).json()
    r = await admin(world, "PATCH", f"/plans/{uid}", json={**patch, "burst_threshold": 7})
    assert r.status_code == 422, r.text
    problems = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert said in problems[field]
    assert (await admin(world, "GET", f"/plans/{uid}")).json() == before


async def test_create_with_a_weight_for_a_server_not_listed_is_refused(world: World) -> None:
    body = {"name": "W", "servers": ["ses-1"], "weights": {"postmark-1": 2}}
    r = await admin(world, "POST", "/plans", json=body)
    assert r.status_code == 422
    assert "not in the plan" in r.json()["errors"][0]["message"]
    assert all(p["name"] != "W" for p in (await admin(world, "GET", "/plans")).json())
