"""Merge fields against the list, through the API: 422 naming the field, or a warning with a count."""

from __future__ import annotations

from typing import Any

from tests.support.world import World

API = "/api/v1"


async def as_a(world: World, method: str, path: str, **kwargs: Any) -> Any:
    return await world.client.request(method, API + path, headers=world.auth("a"), **kwargs)


async def new_list(world: World, name: str, people: list[dict[str, Any]]) -> str:
    uid = str((await as_a(world, "POST", "/lists", json={"name": name})).json()["uid"])
    if people:
        r = await as_a(world, "POST", f"/lists/{uid}/subscribers", json={"subscribers": people})
        assert r.status_code == 200, r.text
    return uid


def draft(list_uid: str, subject: str, text: str = "Hello", **more: str) -> dict[str, str]:
    return {
        "name": "Autumn",
        "list_uid": list_uid,
        "subject": subject,
        "from_email": "news@a-tenant.example",
        "text": text,
        **more,
    }


async def campaigns(world: World) -> list[str]:
    return [c["uid"] for c in (await as_a(world, "GET", "/campaigns")).json()]


PEOPLE = [
    {"email": "ann@example.com", "fields": {"first_name": "Ann", "city": "Oslo"}},
    {"email": "bob@example.com", "fields": {"first_name": "Bob"}},
    {"email": "cy@example.com", "fields": {"first_name": "Cy"}},
]


async def test_a_field_no_subscriber_has_is_refused_naming_it_and_nothing_is_created(
    world: World,
) -> None:
    lst = await new_list(world, "typos", PEOPLE)
    before = await campaigns(world)
    r = await as_a(world, "POST", "/campaigns", json=draft(lst, "Hi {{ first_nmae }}"))
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "subject"
    assert "{{ first_nmae }}" in error["message"]
    assert "add a column 'first_nmae'" in error["message"]
    assert await campaigns(world) == before


async def test_each_body_part_names_its_own_missing_fields(world: World) -> None:
    lst = await new_list(world, "parts", PEOPLE)
    body = draft(lst, "Hi {{ first_name }}", text="{{ zip }} {{ email }}", html="<p>{{ tier }}</p>")
    r = await as_a(world, "POST", "/campaigns", json=body)
    assert r.status_code == 422, r.text
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert set(errors) == {"text", "html"}  # first_name and email are there
    assert "{{ zip }}" in errors["text"] and "{{ tier }}" in errors["html"]
    assert "email" not in errors["text"]


async def test_a_field_some_subscribers_lack_is_a_warning_with_the_count(world: World) -> None:
    lst = await new_list(world, "partial", PEOPLE)
    body = draft(
        lst,
        "Hi {{ first_name }}",
        text="From {{ city }}. {% for i in range(2) %}{{ i }}{% endfor %} {{ unsubscribe_url }}",
    )
    r = await as_a(world, "POST", "/campaigns", json=body)
    assert r.status_code == 201, r.text
    [warning] = r.json()["warnings"]
    assert "{{ city }}" in warning and "empty or missing for 2 of 3 subscribers" in warning
    launched = await as_a(world, "POST", f"/campaigns/{r.json()['uid']}/launch")
    assert launched.status_code == 200, launched.text
    assert launched.json()["warnings"] == [warning]
    assert launched.json()["by_status"] == {"queued": 3}


async def test_launch_checks_the_list_as_it_is_then(world: World) -> None:
    lst = await new_list(world, "later", [])
    # An empty list has nothing to judge by: the draft is kept.
    r = await as_a(world, "POST", "/campaigns", json=draft(lst, "Hi {{ first_nmae }}"))
    assert r.status_code == 201, r.text
    assert r.json()["warnings"] == []
    uid = r.json()["uid"]
    r = await as_a(world, "POST", f"/lists/{lst}/subscribers", json={"subscribers": PEOPLE})
    assert r.status_code == 200, r.text
    refused = await as_a(world, "POST", f"/campaigns/{uid}/launch")
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["field"] == "subject" and "{{ first_nmae }}" in error["message"]
    progress = (await as_a(world, "GET", f"/campaigns/{uid}")).json()
    assert progress["status"] == "draft" and progress["by_status"] == {}
