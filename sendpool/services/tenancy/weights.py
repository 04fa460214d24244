"""A plan's selector and its servers' weights: checked the same way from the pool file and the API.

A weight belongs to the attachment (``plan_servers.weight``, 1 to 1000), so a
server can weigh 3 in one plan and 1 in another. Only the smooth weighted
selector deals by weight; round-robin ignores it (docs/design.md §1.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy import Connection, select, update

from sendpool.core.selectors import SELECTORS, UnknownSelector, selector_for
from sendpool.core.selectors.smooth_weighted import MAX_WEIGHT
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.errors import FieldError
from sendpool.store.tables import PlanServer, SendingServer, table

MIN_WEIGHT = 1


def check_selector(name: str) -> str:
    """A selector sendpool has, else a ValueError that lists the ones it has."""
    try:
        selector_for(name)
    except UnknownSelector as exc:
        raise ValueError(str(exc)) from None
    return name


def known_selectors() -> list[str]:
    return sorted(SELECTORS)


Weight = Annotated[int, Field(ge=MIN_WEIGHT, le=MAX_WEIGHT)]
SelectorName = Annotated[str, Field(min_length=1, max_length=32), AfterValidator(check_selector)]


def bad_weight(value: object) -> str | None:
    """Why ``value`` is not a weight, or None: an integer from 1 to 1000, never "3" or true."""
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be a whole number from {MIN_WEIGHT} to {MAX_WEIGHT}, not {value!r}"
    if not MIN_WEIGHT <= value <= MAX_WEIGHT:
        return f"must be from {MIN_WEIGHT} to {MAX_WEIGHT}, not {value}"
    return None


def weights_of(conn: Connection, plan_id: int) -> dict[int, int]:
    """Server id -> its weight in the plan."""
    rows = conn.execute(
        select(PlanServer.server_id, PlanServer.weight).where(PlanServer.plan_id == plan_id)
    )
    return {int(s): int(w) for s, w in rows}


def set_weights(conn: Connection, plan_id: int, weights: Mapping[int, int]) -> None:
    """Write each attached server's weight (by server id)."""
    P = table(PlanServer)
    for server_id, weight in weights.items():
        conn.execute(
            update(P)
            .where(P.c.plan_id == plan_id, P.c.server_id == server_id)
            .values(weight=weight)
        )


def resolve_weights(
    conn: Connection, given: Mapping[str, object], members: set[int]
) -> dict[int, int]:
    """``given`` (server uid or name -> weight) as server id -> weight, each of the plan.

    Every problem is reported at once, naming ``weights.<server>``: a weight
    out of bounds or not a whole number, an unknown server, a server that is
    not in the plan.
    """
    problems: list[tuple[str, str]] = []
    out: dict[int, int] = {}
    for ref, value in given.items():
        field = f"weights.{ref}"
        why = bad_weight(value)
        if why is not None:
            problems.append((field, why))
            continue
        try:
            server_id = refs.server_id(conn, ref)
        except NotFoundError as exc:
            problems.append((field, str(exc)))
            continue
        if server_id not in members:
            name = conn.execute(
                select(SendingServer.name).where(SendingServer.id == server_id)
            ).scalar_one()
            problems.append((field, f"server {name!r} is not in the plan; list it in servers"))
            continue
        assert isinstance(value, int)
        out[server_id] = value
    if problems:
        raise FieldError(problems)
    return out
