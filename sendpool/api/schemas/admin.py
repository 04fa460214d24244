"""Plans, customers, region rules, tokens, the audit log and rebalancing on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from sendpool.api.schemas.common import NAME_PATTERN, Name, OptionalName, Ref, RequestBody
from sendpool.services.tenancy.weights import SelectorName

ServerRefs = list[Annotated[str, Field(min_length=1, max_length=200)]]
# Checked by the service (services/tenancy/weights.py), so each bad weight is named with its
# server: {"weights.relay-a": "must be from 1 to 1000, not 0"}.
Weights = dict[Annotated[str, Field(min_length=1, max_length=200)], Any]
SELECTOR_HELP = "How servers share the plan's mail: round_robin (default), smooth_weighted, ..."
WEIGHTS_HELP = "Server uid or name -> its weight in this plan, 1 to 1000 (default 1)."
Region = Field(None, min_length=1, max_length=64, pattern=NAME_PATTERN)


class PlanCreate(RequestBody):
    name: str = Name
    burst_threshold: int | None = Field(
        None, ge=1, le=1_000_000_000, description="Campaigns this big or bigger are burst sends."
    )
    servers: ServerRefs = Field(default_factory=list, max_length=1000)
    selector: SelectorName | None = Field(None, description=SELECTOR_HELP)
    weights: Weights | None = Field(None, max_length=1000, description=WEIGHTS_HELP)


class PlanPatch(RequestBody):
    name: str | None = OptionalName
    burst_threshold: int | None = Field(None, ge=1, le=1_000_000_000)
    servers: ServerRefs | None = Field(None, max_length=1000, description="Replaces the servers.")
    selector: SelectorName | None = Field(None, description=SELECTOR_HELP)
    weights: Weights | None = Field(
        None, max_length=1000, description=WEIGHTS_HELP + " Servers not named keep theirs."
    )


class PlanServerOut(Ref):
    weight: int = Field(description="Its weight in this plan (1 to 1000).")
    share: float = Field(description="Weight over the plan's total: its smooth weighted share.")


class PlanOut(BaseModel):
    uid: str
    name: str
    selector: str
    burst_threshold: int | None
    servers: list[PlanServerOut]
    customers: int
    created_at: datetime


class CustomerCreate(RequestBody):
    name: str = Name
    plan: str | None = Field(None, min_length=1, max_length=200, description="Plan uid or name.")
    region: str | None = Region


class CustomerPatch(RequestBody):
    name: str | None = OptionalName
    plan: str | None = Field(None, min_length=1, max_length=200, description="null: no plan.")
    region: str | None = Region


class CustomerOut(BaseModel):
    uid: str
    name: str
    plan: Ref | None
    region: str | None
    effective_plan: Ref | None = Field(description="The plan its mail goes through.")
    created_at: datetime


class OwnSendingDomainOut(BaseModel):
    domain: str = Field(
        description="Lower-case, in A-label form; `*.example.com` covers subdomains."
    )
    verified_at: datetime | None = Field(description="null: not verified, so not usable yet.")


class OwnSendingDomainsOut(BaseModel):
    """The domains a customer may send from; any other From domain is refused (422)."""

    domains: list[OwnSendingDomainOut]


class SendingDomainOut(OwnSendingDomainOut):
    created_at: datetime
    created_by: str = Field(description="Who added it: an admin, `pool file` or `migration`.")


class SendingDomainsOut(BaseModel):
    customer: Ref
    domains: list[SendingDomainOut]


class RegionRuleBody(RequestBody):
    plan: str = Field(min_length=1, max_length=200, description="Plan uid or name.")


class RegionRuleOut(BaseModel):
    region: str
    plan: Ref


class TokenCreate(RequestBody):
    name: str = Name
    customer: str | None = Field(
        None, min_length=1, max_length=200, description="Customer uid or name; none: admin."
    )


class TokenOut(BaseModel):
    uid: str
    name: str
    kind: str
    customer_uid: str | None
    customer_name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(BaseModel):
    token: str = Field(description="Shown once; only its hash is kept.")
    info: TokenOut


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    server_uid: str | None
    server_name: str | None
    detail: dict[str, Any]


class RebalanceLine(BaseModel):
    uid: str
    name: str
    action: str
    old_limit: int
    new_limit: int
    sent_last_24h: int
    bounces_last_24h: int
    bounce_rate_last_24h: float
    reason: str


class RebalanceOut(BaseModel):
    at: datetime
    dry_run: bool
    servers: list[RebalanceLine]
