"""One resolver for what people name: a server, plan or customer by uid or by name.

Every face lets people write either the uid or the name. The precedence is
the same everywhere: an exact uid first, then an exact name, then the name
without regard to case or surrounding spaces ("MG " finds "mg"), so a name
that happens to look like another row's uid can never shadow it. Names of
servers, plans and customers are unique without regard to case (``name_clash``
here, and unique indexes on lower(name)), so the last step finds one row at
most. Lists and campaigns are named by uid only and always within one
customer, so a customer can never reach another's by guessing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from sendpool.errors import NotFoundError
from sendpool.store.tables import Campaign, Customer, MailingList, Plan, SendingServer

# Each kind: its table, the words of its error, and where people find the names.
_KINDS: dict[str, tuple[Any, str, str]] = {
    "server": (SendingServer, "sending server", "`sendpool servers list` shows them"),
    "plan": (Plan, "plan", "no plans are declared yet"),
    "customer": (Customer, "customer", "declare it in the pool file"),
}
_HINTS = 10


def _folded(conn: Connection, model: Any, name: str) -> list[tuple[int, str]]:
    """Rows whose name equals ``name`` without regard to case (Python's casefold).

    SQLite's lower() folds ASCII only, so the comparison is made here; the tables
    of servers, plans and customers are small.
    """
    key = name.strip().casefold()
    rows = conn.execute(select(model.id, model.name))
    return [(int(i), n) for i, n in rows if n.casefold() == key]


def _resolve(conn: Connection, kind: str, ref: str) -> int:
    model, words, empty_hint = _KINDS[kind]
    for column in (model.uid, model.name):
        found = conn.execute(select(model.id).where(column == ref)).scalar()
        if found is not None:
            return int(found)
    folded = _folded(conn, model, ref)
    if len(folded) == 1:
        return folded[0][0]
    names = conn.execute(select(model.name).order_by(model.name).limit(_HINTS)).scalars().all()
    hint = f"known {words}s: {', '.join(names)}" if names else empty_hint
    raise NotFoundError(f"unknown {words} {ref!r}; {hint}")


def name_clash(
    conn: Connection, kind: str, name: str, *, except_id: int | None = None
) -> str | None:
    """The stored name ``name`` would clash with (the same without regard to case), or None."""
    model = _KINDS[kind][0]
    return next((n for i, n in _folded(conn, model, name) if i != except_id), None)


def server_id(conn: Connection, ref: str) -> int:
    """The id of the sending server whose uid, or failing that name, is ``ref``."""
    return _resolve(conn, "server", ref)


def plan_id(conn: Connection, ref: str) -> int:
    """The id of the plan whose uid, or failing that name, is ``ref``."""
    return _resolve(conn, "plan", ref)


def customer_id(conn: Connection, ref: str) -> int:
    """The id of the customer whose uid, or failing that name, is ``ref``."""
    return _resolve(conn, "customer", ref)


def list_id(conn: Connection, uid: str, *, customer_id: int) -> int:
    """The id of the list ``uid`` of this customer; another customer's list is not found."""
    found = conn.execute(
        select(MailingList.id).where(MailingList.uid == uid, MailingList.customer_id == customer_id)
    ).scalar()
    if found is None:
        raise NotFoundError(f"no list {uid!r}")
    return int(found)


def campaign_id(conn: Connection, uid: str, *, customer_id: int) -> int:
    """The id of the campaign ``uid`` of this customer; another customer's is not found."""
    found = conn.execute(
        select(Campaign.id).where(Campaign.uid == uid, Campaign.customer_id == customer_id)
    ).scalar()
    if found is None:
        raise NotFoundError(f"no campaign {uid!r}")
    return int(found)
