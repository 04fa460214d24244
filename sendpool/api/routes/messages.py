"""/messages, /servers and /sending-domains: transactional mail, its log, what it may use."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import CustomerId, Limit, Offset, Search
from sendpool.api.schemas.admin import OwnSendingDomainOut, OwnSendingDomainsOut
from sendpool.api.schemas.tenant import LogPage, MessageOut, PlanServers, Queued, TransactionalIn
from sendpool.core.states import MessageStatus
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.errors import FieldError
from sendpool.services.messages import log as message_log
from sendpool.services.messages import transactional
from sendpool.services.messages.log import LogRow
from sendpool.services.messages.transactional import Transactional
from sendpool.services.tenancy import customers, sending_domains

router = APIRouter(tags=["customer: messages"], route_class=JsonBodyRoute)

SearchMatch = Annotated[
    message_log.Match,
    Query(
        description="`prefix`: addresses starting with it; `exact`: that address. Both ignore case."
    ),
]
After = Annotated[
    str | None,
    Query(
        max_length=32,
        pattern=r"^[A-Za-z0-9]+$",
        description="The uid of the last message of the previous page (next_after): keyset paging.",
    ),
]


@router.get("/servers", response_model=PlanServers)
async def servers(customer: CustomerId, rt: RuntimeDep) -> PlanServers:
    """The servers your plan sends through, by name only."""
    return PlanServers(servers=await rt.db.run(customers.plan_servers, customer))


@router.get("/sending-domains", response_model=OwnSendingDomainsOut)
async def own_sending_domains(customer: CustomerId, rt: RuntimeDep) -> OwnSendingDomainsOut:
    """The domains you may send from; an admin adds others."""
    rows = await rt.db.run(sending_domains.list_domains, customer)
    return OwnSendingDomainsOut(
        domains=[OwnSendingDomainOut(domain=d.domain, verified_at=d.verified_at) for d in rows]
    )


@router.post("/messages", response_model=Queued, status_code=202)
async def send(body: TransactionalIn, customer: CustomerId, rt: RuntimeDep, now: Now) -> Queued:
    """Queue one transactional message; it goes out in the low-volume class."""
    message = Transactional(**body.model_dump())
    uid = await rt.db.run(
        transactional.send_transactional,
        customer,
        message,
        public_url=rt.settings.public_url,
        now=now,
    )
    return Queued(uid=uid, status=MessageStatus.QUEUED)


@router.get("/messages", response_model=LogPage)
async def log(
    customer: CustomerId,
    rt: RuntimeDep,
    recipient: Search = None,
    match: SearchMatch = "prefix",
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> LogPage:
    """Every message of yours, campaign and transactional, with the server used.

    Page on with ``after=next_after``: it reads from that message on, however deep.
    """
    if after is not None and offset:
        raise FieldError([("offset", "give either after or offset, not both")])
    rows = await rt.db.read(
        message_log.messages,
        customer,
        recipient=recipient,
        match=match,
        limit=limit,
        offset=offset,
        after=after,
    )
    return log_page(rows, limit, offset)


def log_page(rows: list[LogRow], limit: int, offset: int) -> LogPage:
    """A page of the log with both cursors: next_after (keyset) and next_offset."""
    page = LogPage.of(rows, limit, offset)
    return page.model_copy(update={"next_after": rows[-1].uid if len(rows) == limit else None})


@router.get("/messages/{uid}", response_model=MessageOut)
async def get_message(uid: str, customer: CustomerId, rt: RuntimeDep) -> MessageOut:
    m = await rt.db.run(message_log.get_message, customer, uid)
    return MessageOut(**dataclasses.asdict(m.row), kind=m.kind, campaign_uid=m.campaign_uid)
