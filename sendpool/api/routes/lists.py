"""/lists: a customer's lists and subscribers, as JSON or as a CSV upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import CustomerId, Limit, Offset, Search
from sendpool.api.schemas.tenant import (
    AddOut,
    ImportOut,
    ListCreate,
    ListOut,
    RowProblem,
    SubscriberHistoryOut,
    SubscriberPage,
    SubscribersIn,
)
from sendpool.http.context import Now, RuntimeDep
from sendpool.services.lists import subscribers
from sendpool.services.lists.history import SubscriberHistory, subscriber_history
from sendpool.services.lists.subscribers import AddReport, ListInfo

router = APIRouter(prefix="/lists", tags=["customer: lists"], route_class=JsonBodyRoute)


@router.get("", response_model=list[ListOut])
async def list_lists(customer: CustomerId, rt: RuntimeDep) -> list[ListInfo]:
    return await rt.db.run(subscribers.list_lists, customer)


@router.post("", response_model=ListOut, status_code=201)
async def create_list(body: ListCreate, customer: CustomerId, rt: RuntimeDep, now: Now) -> ListInfo:
    return await rt.db.run(subscribers.create_list, customer, name=body.name, now=now)


@router.get("/{uid}", response_model=ListOut)
async def get_list(uid: str, customer: CustomerId, rt: RuntimeDep) -> ListInfo:
    return await rt.db.run(subscribers.get_list, customer, uid)


@router.get("/{uid}/subscribers", response_model=SubscriberPage)
async def list_subscribers(
    uid: str,
    customer: CustomerId,
    rt: RuntimeDep,
    search: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SubscriberPage:
    items = await rt.db.run(
        subscribers.list_subscribers, customer, uid, search=search, limit=limit, offset=offset
    )
    return SubscriberPage.of(items, limit, offset)


@router.get("/{uid}/subscribers/{email}/history", response_model=SubscriberHistoryOut)
async def get_subscriber_history(
    uid: str, email: str, customer: CustomerId, rt: RuntimeDep
) -> SubscriberHistory:
    """The subscriber's status and its events (unsubscribes, bounces, complaints), newest first."""
    return await rt.db.run(subscriber_history, customer, uid, email)


@router.post("/{uid}/subscribers", response_model=AddOut)
async def add_subscribers(
    uid: str, body: SubscribersIn, customer: CustomerId, rt: RuntimeDep, now: Now
) -> AddReport:
    """Add or update subscribers; one bad address refuses the whole request."""
    rows = [(s.email, s.fields) for s in body.subscribers]
    return await rt.db.run(subscribers.add_subscribers, customer, uid, subscribers=rows, now=now)


@router.post("/{uid}/subscribers/import", response_model=ImportOut)
async def import_subscribers(
    uid: str,
    file: Annotated[UploadFile, File(description="CSV with an 'email' column; UTF-8.")],
    customer: CustomerId,
    rt: RuntimeDep,
    now: Now,
) -> ImportOut:
    """Import a CSV upload; rows that cannot be used are skipped and listed by line number."""
    report = await rt.db.run(
        subscribers.import_subscribers, customer, uid, stream=file.file, now=now
    )
    return ImportOut(
        rows=report.rows,
        created=report.created,
        merged=report.merged,
        skipped=report.skipped,
        errors=[RowProblem(line=e.line, message=e.message) for e in report.errors],
    )
