"""A customer's verified sending domains: add, list, remove, and the check on every sender.

A customer sends only from domains an admin has given it (docs/design.md §4):
without this any customer could send as any domain, another customer's too.
Domains are stored lower-case in A-label form, so ``Example.COM`` and
``bücher.example`` are one entry each however they are written. What an entry
covers and which entries clash is decided in ``core/sender_domains.py``: an
exact entry covers that domain only, ``*.example.com`` every name under it;
a domain belongs to at most one customer.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, Connection, Row, delete, or_, select

from sendpool.content.addresses import normalise_address
from sendpool.core.sender_domains import (
    WILDCARD,
    base_of,
    candidate_entries,
    clashes,
    covering_entry,
    is_wildcard,
    suffixes,
)
from sendpool.errors import NotFoundError
from sendpool.services import refs
from sendpool.services.errors import ConflictError, FieldError, checked
from sendpool.services.operations.audit import write_audit
from sendpool.services.servers.queries import Ref
from sendpool.store.tables import Customer, SendingDomain, table

MAX_DOMAIN = 253  # RFC 1035 §2.3.4, in its A-label form


@dataclass(frozen=True, slots=True)
class SendingDomainDetail:
    domain: str
    verified_at: datetime | None
    created_at: datetime
    created_by: str


@functools.lru_cache(maxsize=4096)
def _ascii(domain: str) -> str | None:
    """Lower-case A-label form, checked the way every address is (content/addresses.py)."""
    try:
        return validate_email("x@" + domain, check_deliverability=False).ascii_domain
    except EmailNotValidError:
        return None


def normalise_domain(value: object, field: str = "domain") -> str:
    """A domain or ``*.domain`` as stored: lower-case A-label; FieldError naming ``field``."""
    if not isinstance(value, str) or not value.strip():
        raise FieldError([(field, "must be a non-empty domain name, e.g. example.com")])
    if any(c < " " or c == "\x7f" for c in value):
        raise FieldError([(field, "must not contain control characters or line breaks")])
    text = value.strip()
    base = base_of(text)
    if len(base) > MAX_DOMAIN:
        raise FieldError([(field, f"must be at most {MAX_DOMAIN} characters")])
    ascii_domain = _ascii(base) if "*" not in base else None
    if ascii_domain is None or len(ascii_domain) > MAX_DOMAIN:
        hint = "write it as example.com or *.example.com"
        raise FieldError([(field, f"{text[:80]!r} is not a domain name; {hint}")])
    return WILDCARD + ascii_domain if is_wildcard(text) else ascii_domain


def _customer_name(conn: Connection, customer_id: int) -> str:
    return str(conn.execute(select(Customer.name).where(Customer.id == customer_id)).scalar_one())


def _detail(row: Row[Any]) -> SendingDomainDetail:
    return SendingDomainDetail(row.domain, row.verified_at, row.created_at, row.created_by)


def list_domains(conn: Connection, customer_id: int) -> list[SendingDomainDetail]:
    rows = conn.execute(
        select(table(SendingDomain))
        .where(SendingDomain.customer_id == customer_id)
        .order_by(SendingDomain.domain)
    )
    return [_detail(r) for r in rows]


@dataclass(frozen=True, slots=True)
class CustomerDomains:
    customer: Ref
    domains: list[SendingDomainDetail]


def _of(conn: Connection, customer_id: int) -> CustomerDomains:
    c = conn.execute(select(Customer.uid, Customer.name).where(Customer.id == customer_id)).one()
    return CustomerDomains(Ref(c.uid, c.name), list_domains(conn, customer_id))


def customer_domains(conn: Connection, customer: str) -> CustomerDomains:
    """The domains of the customer whose uid or name is ``customer``."""
    return _of(conn, refs.customer_id(conn, customer))


def _clashing(conn: Connection, entry: str, customer_id: int) -> list[tuple[int, str]]:
    """(customer, entry) of every other customer's entry that ``entry`` clashes with."""
    base = base_of(entry)
    where: ColumnElement[bool] = SendingDomain.domain.in_(
        [entry, base, *(WILDCARD + s for s in suffixes(base))]
    )
    if is_wildcard(entry):
        where = or_(where, SendingDomain.domain.endswith("." + base, autoescape=True))
    others = conn.execute(
        select(SendingDomain.customer_id, SendingDomain.domain).where(
            where, SendingDomain.customer_id != customer_id
        )
    )
    return [(int(c), d) for c, d in others if clashes(entry, d)]


def _clash(entry: str, taken: str) -> ConflictError:
    # Whose it is stays with the admins: the message names no other customer.
    what = f"{entry} is" if taken == entry else f"{entry} clashes with {taken},"
    return ConflictError(
        f"{what} a sending domain of another customer; "
        f"a domain belongs to one customer: remove it there first",
        field="domain",
    )


def _insert(conn: Connection, customer_id: int, entry: str, *, actor: str, now: datetime) -> None:
    conn.execute(
        table(SendingDomain)
        .insert()
        .values(
            customer_id=customer_id,
            domain=entry,
            verified_at=now,
            created_at=now,
            created_by=actor[:200],
        )
    )
    detail = {"customer": _customer_name(conn, customer_id), "domain": entry}
    write_audit(conn, actor=actor, action="sending_domain.add", now=now, detail=detail)


def _delete(conn: Connection, customer_id: int, entry: str, *, actor: str, now: datetime) -> bool:
    T = table(SendingDomain)
    gone = conn.execute(delete(T).where(T.c.domain == entry, T.c.customer_id == customer_id))
    if gone.rowcount:
        detail = {"customer": _customer_name(conn, customer_id), "domain": entry}
        write_audit(conn, actor=actor, action="sending_domain.remove", now=now, detail=detail)
    return bool(gone.rowcount)


def add_domain(
    conn: Connection, customer: str, domain: str, *, actor: str, now: datetime
) -> CustomerDomains:
    """Give the customer ``domain``, verified by ``actor``; adding it twice changes nothing."""
    customer_id = refs.customer_id(conn, customer)
    entry = normalise_domain(domain)
    T = table(SendingDomain)
    held = conn.execute(select(T.c.id).where(T.c.domain == entry, T.c.customer_id == customer_id))
    if held.first() is None:
        taken = _clashing(conn, entry, customer_id)
        if taken:
            raise _clash(entry, taken[0][1])
        _insert(conn, customer_id, entry, actor=actor, now=now)
    return _of(conn, customer_id)


def remove_domain(
    conn: Connection, customer: str, domain: str, *, actor: str, now: datetime
) -> CustomerDomains:
    """Take ``domain`` from the customer; its mail from that domain is refused from now on."""
    customer_id = refs.customer_id(conn, customer)
    entry = normalise_domain(domain)
    if not _delete(conn, customer_id, entry, actor=actor, now=now):
        name = _customer_name(conn, customer_id)
        raise NotFoundError(
            f"customer {name!r} has no sending domain {entry!r}; "
            f"`sendpool customers domains list {name}` shows them"
        )
    return _of(conn, customer_id)


def set_domains(
    conn: Connection, wanted: Mapping[int, Collection[str]], *, actor: str, now: datetime
) -> set[int]:
    """Make each given customer's domains exactly ``wanted[customer_id]`` (normalised entries).

    Every clash, among the customers given and with anyone else's domains, is
    refused before the first write; an entry may move from one given customer
    to another. Returns the customers whose domains changed.
    """
    owners = [(cid, set(entries)) for cid, entries in wanted.items()]
    for i, (a, mine) in enumerate(owners):
        for b, theirs in owners[i + 1 :]:
            pairs = [(x, y) for x in sorted(mine) for y in sorted(theirs) if clashes(x, y)]
            if pairs:
                x, y = pairs[0]
                raise ConflictError(
                    f"{x} of customer {_customer_name(conn, a)!r} and {y} of customer "
                    f"{_customer_name(conn, b)!r} clash; a domain belongs to one customer"
                )
    for cid, mine in owners:
        for entry in sorted(mine):
            # A holder among those given ends with what it is given, checked just above.
            taken = [d for holder, d in _clashing(conn, entry, cid) if holder not in wanted]
            if taken:
                raise _clash(entry, taken[0])
    changed: set[int] = set()
    # Removals first, so that an entry moving between customers is free when it is added.
    for cid, mine in owners:
        for entry in sorted({d.domain for d in list_domains(conn, cid)} - mine):
            _delete(conn, cid, entry, actor=actor, now=now)
            changed.add(cid)
    for cid, mine in owners:
        for entry in sorted(mine - {d.domain for d in list_domains(conn, cid)}):
            _insert(conn, cid, entry, actor=actor, now=now)
            changed.add(cid)
    return changed


def check_sender(conn: Connection, customer_id: int, from_email: str) -> None:
    """Refuse a From address outside the customer's verified sending domains (docs/design.md §4).

    Raises FieldError on ``from_email``, saying how an admin adds the domain.
    """
    address = checked("from_email", normalise_address, from_email)
    shown = address.rpartition("@")[2]
    domain = _ascii(shown)
    held = conn.execute(
        select(SendingDomain.domain).where(
            SendingDomain.customer_id == customer_id,
            SendingDomain.verified_at.is_not(None),
            SendingDomain.domain.in_(candidate_entries(domain) if domain else []),
        )
    ).scalars()
    if domain is not None and covering_entry(held, domain) is not None:
        return
    c = conn.execute(select(Customer.uid, Customer.name).where(Customer.id == customer_id)).one()
    raise FieldError(
        [
            (
                "from_email",
                f"{address}: {shown} is not a verified sending domain of this customer; "
                f"an admin adds it with `sendpool customers domains add {c.name} {shown}` "
                f"or PUT /api/v1/admin/customers/{c.uid}/sending-domains/{shown}",
            )
        ]
    )
