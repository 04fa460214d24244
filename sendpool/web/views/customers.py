"""Customers, region rules and API tokens as the admin pages show and edit them.

Each write is the API's own service call; a name that is taken comes back as
an error on the field that holds it, so the form shows it there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from sendpool.errors import InputError, NotFoundError
from sendpool.services.access import tokens
from sendpool.services.access.tokens import IssuedToken, TokenInfo
from sendpool.services.errors import ConflictError, FieldError
from sendpool.services.tenancy import customers, plans
from sendpool.services.tenancy.customers import CustomerDetail, RegionRuleDetail
from sendpool.services.tenancy.plans import PlanDetail


@dataclass(frozen=True, slots=True)
class CustomersPage:
    customers: list[CustomerDetail]
    tokens: dict[str, int]  # live tokens by customer uid
    plans: list[PlanDetail]
    rules: list[RegionRuleDetail]


@dataclass(frozen=True, slots=True)
class CustomerPage:
    customer: CustomerDetail
    tokens: list[TokenInfo]
    plans: list[PlanDetail]
    rule: RegionRuleDetail | None  # the rule its region matches, if any


@dataclass(frozen=True, slots=True)
class TokensPage:
    tokens: list[TokenInfo]
    customers: list[CustomerDetail]


def _live_by_customer(found: list[TokenInfo]) -> dict[str, int]:
    return dict(Counter(t.customer_uid for t in found if t.customer_uid and t.revoked_at is None))


def customers_page(conn: Connection) -> CustomersPage:
    return CustomersPage(
        customers.list_customers(conn),
        _live_by_customer(tokens.list_tokens(conn)),
        plans.list_plans(conn),
        customers.list_region_rules(conn),
    )


def customer_page(conn: Connection, ref: str) -> CustomerPage:
    found = customers.get_customer(conn, ref)
    rule = next((r for r in customers.list_region_rules(conn) if r.region == found.region), None)
    own = [t for t in tokens.list_tokens(conn) if t.customer_uid == found.uid]
    return CustomerPage(found, own, plans.list_plans(conn), rule)


def tokens_page(conn: Connection) -> TokensPage:
    return TokensPage(tokens.list_tokens(conn), customers.list_customers(conn))


def _by_field(exc: ConflictError) -> FieldError:
    error = exc.as_field_error()
    return error if isinstance(error, FieldError) else FieldError([("name", exc.message)])


def add_customer(
    conn: Connection, *, fields: Mapping[str, Any], actor: str, now: datetime
) -> CustomerDetail:
    try:
        return customers.create_customer(conn, fields=fields, actor=actor, now=now)
    except ConflictError as exc:
        raise _by_field(exc) from None


def save_customer(
    conn: Connection, ref: str, *, changes: Mapping[str, Any], actor: str, now: datetime
) -> CustomerDetail:
    try:
        return customers.update_customer(conn, ref, changes=changes, actor=actor, now=now)
    except ConflictError as exc:
        raise _by_field(exc) from None


def put_rule(
    conn: Connection, region: str, *, plan: str, actor: str, now: datetime
) -> RegionRuleDetail:
    """The rule set; a blank region or plan is refused by the field it leaves out."""
    errors = [(k, "required") for k, v in (("region", region), ("plan", plan)) if not v]
    if errors:
        raise FieldError(errors)
    return customers.put_region_rule(conn, region, plan=plan, actor=actor, now=now)


def issue_token(
    conn: Connection, *, name: str, customer: str | None, actor: str, now: datetime
) -> IssuedToken:
    """A token for a customer (name or uid), or an admin token when ``customer`` is None."""
    if not name:
        raise FieldError([("name", "required")])
    try:
        return tokens.create_token(conn, name=name, customer=customer, actor=actor, now=now)
    except NotFoundError as exc:
        raise FieldError([("customer", str(exc))]) from None
    except InputError as exc:
        raise FieldError([("name", str(exc))]) from None
