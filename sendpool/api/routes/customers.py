"""/admin/customers and /admin/region-rules: tenants, their plans, sending domains, region tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin
from sendpool.api.schemas.admin import (
    CustomerCreate,
    CustomerOut,
    CustomerPatch,
    RegionRuleBody,
    RegionRuleOut,
    SendingDomainsOut,
)
from sendpool.api.schemas.common import Deleted
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.tenancy import customers, sending_domains
from sendpool.services.tenancy.customers import CustomerDetail, RegionRuleDetail
from sendpool.services.tenancy.sending_domains import CustomerDomains

router = APIRouter(tags=["admin: customers"], route_class=JsonBodyRoute)
RegionPath = Annotated[str, Path(min_length=1, max_length=64)]
# 253 for a domain (RFC 1035 §2.3.4) and "*." for a wildcard; the service checks the rest.
DomainPath = Annotated[str, Path(min_length=1, max_length=255, description="e.g. example.com")]


@router.get("/customers", response_model=list[CustomerOut])
async def list_customers(_: Admin, rt: RuntimeDep) -> list[CustomerDetail]:
    return await rt.db.run(customers.list_customers)


@router.post("/customers", response_model=CustomerOut, status_code=201)
async def create_customer(
    body: CustomerCreate, admin: Admin, rt: RuntimeDep, now: Now
) -> CustomerDetail:
    fields = body.model_dump(exclude_unset=True)
    return await rt.db.run(customers.create_customer, fields=fields, actor=admin.actor, now=now)


@router.get("/customers/{uid}", response_model=CustomerOut)
async def get_customer(uid: str, _: Admin, rt: RuntimeDep) -> CustomerDetail:
    return await rt.db.run(customers.get_customer, uid)


@router.patch("/customers/{uid}", response_model=CustomerOut)
async def update_customer(
    uid: str, body: CustomerPatch, admin: Admin, rt: RuntimeDep, now: Now
) -> CustomerDetail:
    changes = body.model_dump(exclude_unset=True)
    return await rt.db.run(
        customers.update_customer, uid, changes=changes, actor=admin.actor, now=now
    )


@router.delete("/customers/{uid}", response_model=Deleted)
async def delete_customer(uid: str, admin: Admin, rt: RuntimeDep, now: Now) -> Deleted:
    """Deletes the customer with its lists, campaigns, messages and tokens."""
    deleted = await rt.db.run(customers.delete_customer, uid, actor=admin.actor, now=now)
    return Deleted(uid=deleted, outcome="deleted")


@router.get("/customers/{uid}/sending-domains", response_model=SendingDomainsOut)
async def list_sending_domains(uid: str, _: Admin, rt: RuntimeDep) -> CustomerDomains:
    """The domains this customer may send from (docs/design.md §4)."""
    return await rt.db.run(sending_domains.customer_domains, uid)


@router.put("/customers/{uid}/sending-domains/{domain}", response_model=SendingDomainsOut)
async def put_sending_domain(
    uid: str, domain: DomainPath, admin: Admin, rt: RuntimeDep, now: Now
) -> CustomerDomains:
    """Let the customer send from this domain, verified by you; doing it again changes nothing.

    `*.example.com` covers every subdomain, not example.com itself. A domain
    belongs to one customer: one another customer holds is refused (409).
    """
    return await rt.db.run(sending_domains.add_domain, uid, domain, actor=admin.actor, now=now)


@router.delete("/customers/{uid}/sending-domains/{domain}", response_model=SendingDomainsOut)
async def delete_sending_domain(
    uid: str, domain: DomainPath, admin: Admin, rt: RuntimeDep, now: Now
) -> CustomerDomains:
    """Stop the customer sending from this domain; mail already queued still goes."""
    return await rt.db.run(sending_domains.remove_domain, uid, domain, actor=admin.actor, now=now)


@router.get("/region-rules", response_model=list[RegionRuleOut])
async def list_region_rules(_: Admin, rt: RuntimeDep) -> list[RegionRuleDetail]:
    return await rt.db.run(customers.list_region_rules)


@router.get("/region-rules/{region}", response_model=RegionRuleOut)
async def get_region_rule(region: RegionPath, _: Admin, rt: RuntimeDep) -> RegionRuleDetail:
    return await rt.db.run(customers.get_region_rule, region)


@router.put("/region-rules/{region}", response_model=RegionRuleOut)
async def put_region_rule(
    region: RegionPath, body: RegionRuleBody, admin: Admin, rt: RuntimeDep, now: Now
) -> RegionRuleDetail:
    """Customers tagged with this region send through this plan (data residency)."""
    return await rt.db.run(
        customers.put_region_rule, region, plan=body.plan, actor=admin.actor, now=now
    )


@router.delete("/region-rules/{region}", response_model=Deleted)
async def delete_region_rule(region: RegionPath, admin: Admin, rt: RuntimeDep, now: Now) -> Deleted:
    deleted = await rt.db.run(customers.delete_region_rule, region, actor=admin.actor, now=now)
    return Deleted(uid=deleted, outcome="deleted")
