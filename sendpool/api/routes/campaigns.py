"""/campaigns: create, launch, pause, resume, follow, and the per-message log."""

from __future__ import annotations

import functools

import anyio.to_thread
from fastapi import APIRouter, BackgroundTasks

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import CustomerId, Limit, Offset, Search
from sendpool.api.routes.messages import After, SearchMatch, log_page
from sendpool.api.schemas.tenant import CampaignCreate, CampaignOut, LogPage, ProgressOut
from sendpool.core.states import CampaignStatus
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.campaigns import lifecycle
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.lifecycle import CampaignInfo
from sendpool.services.campaigns.report import CampaignReport
from sendpool.services.errors import FieldError

router = APIRouter(prefix="/campaigns", tags=["customer: campaigns"], route_class=JsonBodyRoute)


@router.get("", response_model=list[CampaignOut])
async def list_campaigns(customer: CustomerId, rt: RuntimeDep) -> list[CampaignInfo]:
    return await rt.db.read(lifecycle.list_campaigns, customer)


@router.post("", response_model=CampaignOut, status_code=201)
async def create_campaign(
    body: CampaignCreate, customer: CustomerId, rt: RuntimeDep, now: Now
) -> CampaignInfo:
    """A draft to one of your lists, sent under your plan; launch it when ready."""
    draft = CampaignDraft(
        body.name,
        body.subject,
        body.from_email,
        body.from_name,
        body.reply_to,
        body.text,
        body.html,
    )
    return await rt.db.run(
        lifecycle.new_campaign,
        customer,
        list_uid=body.list_uid,
        draft=draft,
        public_url=rt.settings.public_url,
        now=now,
    )


@router.get("/{uid}", response_model=ProgressOut)
async def progress(uid: str, customer: CustomerId, rt: RuntimeDep, now: Now) -> CampaignReport:
    """Messages per status and, once sent, per server."""
    return await rt.db.read(lifecycle.progress, customer, uid, now)


@router.post("/{uid}/launch", response_model=ProgressOut)
async def launch(
    uid: str, customer: CustomerId, rt: RuntimeDep, now: Now, later: BackgroundTasks
) -> CampaignReport:
    """Queue one message per subscribed recipient; the workers pick servers as they send.

    The first 5,000 are queued before the answer; a longer list answers with
    status `launching` and is queued on in the background (poll the campaign
    for progress). Should this process stop first, a worker finishes the launch.
    """
    engine = rt.db.engine
    call = functools.partial(lifecycle.launch_campaign, engine, customer, uid, now, max_batches=1)
    report = await anyio.to_thread.run_sync(call)
    if report.status == CampaignStatus.LAUNCHING:
        later.add_task(lifecycle.continue_launch, engine, customer, uid, now)
    return report


@router.post("/{uid}/pause", response_model=ProgressOut)
async def pause(uid: str, customer: CustomerId, rt: RuntimeDep, now: Now) -> CampaignReport:
    return await rt.db.run(lifecycle.pause_campaign, customer, uid, now)


@router.post("/{uid}/resume", response_model=ProgressOut)
async def resume(uid: str, customer: CustomerId, rt: RuntimeDep, now: Now) -> CampaignReport:
    return await rt.db.run(lifecycle.resume_campaign, customer, uid, now)


@router.get("/{uid}/messages", response_model=LogPage)
async def messages(
    uid: str,
    customer: CustomerId,
    rt: RuntimeDep,
    recipient: Search = None,
    match: SearchMatch = "prefix",
    limit: Limit = 50,
    offset: Offset = 0,
    after: After = None,
) -> LogPage:
    """The per-message log, with the server each message went through; see GET /messages."""
    if after is not None and offset:
        raise FieldError([("offset", "give either after or offset, not both")])
    rows = await rt.db.read(
        lifecycle.campaign_messages,
        customer,
        uid,
        recipient=recipient,
        match=match,
        limit=limit,
        offset=offset,
        after=after,
    )
    return log_page(rows, limit, offset)
