"""/suppressions: the addresses a customer's mail never goes to; an admin reaches any customer's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Response, UploadFile

from sendpool.api.body import JsonBodyRoute
from sendpool.api.deps import Admin, Customer, CustomerId, Limit, Offset, Search
from sendpool.api.schemas.returns import (
    SuppressionImportOut,
    SuppressionIn,
    SuppressionOut,
    SuppressionPage,
)
from sendpool.api.schemas.tenant import RowProblem
from sendpool.http.context import Now, RuntimeDep
from sendpool.services import refs
from sendpool.services.messages import suppressions
from sendpool.services.messages.suppressions import KINDS, SuppressionInfo

router = APIRouter(
    prefix="/suppressions", tags=["customer: suppressions"], route_class=JsonBodyRoute
)
admin_router = APIRouter(tags=["admin: customers"], route_class=JsonBodyRoute)

Kind = Annotated[str | None, Query(max_length=32, description=f"One of {', '.join(KINDS)}.")]
EmailPath = Annotated[str, Path(min_length=1, max_length=320, description="The address.")]


class CsvResponse(Response):
    media_type = "text/csv"


@router.get("", response_model=SuppressionPage)
async def list_suppressions(
    customer: CustomerId,
    rt: RuntimeDep,
    kind: Kind = None,
    search: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SuppressionPage:
    """Newest first; bounces and complaints add them by themselves."""
    rows = await rt.db.run(
        suppressions.list_suppressions,
        customer,
        kind=kind,
        search=search,
        limit=limit,
        offset=offset,
    )
    return SuppressionPage.of(rows, limit, offset)


@router.post(
    "",
    response_model=SuppressionOut,
    status_code=201,
    responses={200: {"model": SuppressionOut, "description": "Already suppressed; unchanged."}},
)
async def add_suppression(
    body: SuppressionIn,
    principal: Customer,
    customer: CustomerId,
    rt: RuntimeDep,
    now: Now,
    response: Response,
) -> SuppressionInfo:
    """Never send to this address again; one already suppressed keeps its reason (200)."""
    info, created = await rt.db.run(
        suppressions.add_suppression,
        customer,
        email=body.email,
        reason=body.reason,
        actor=principal.actor,
        now=now,
    )
    if not created:
        response.status_code = 200
    return info


@router.post("/import", response_model=SuppressionImportOut)
async def import_suppressions(
    file: Annotated[UploadFile, File(description="CSV with a header line: email,reason; UTF-8.")],
    principal: Customer,
    customer: CustomerId,
    rt: RuntimeDep,
    now: Now,
) -> SuppressionImportOut:
    """Suppress every address of the file; bad rows are skipped and listed by line number.

    A file that is not CSV, or has no email column or no good row, is refused
    (422) and nothing is written.
    """
    report = await rt.db.run(
        suppressions.import_suppressions,
        customer,
        stream=file.file,
        actor=principal.actor,
        now=now,
    )
    return SuppressionImportOut(
        rows=report.rows,
        added=report.added,
        existing=report.existing,
        skipped=len(report.errors),
        errors=[RowProblem(line=e.line, message=e.message) for e in report.errors],
    )


@router.get("/export", response_class=CsvResponse)
async def export_suppressions(customer: CustomerId, rt: RuntimeDep) -> CsvResponse:
    """Every suppression as CSV (email,reason), by address."""
    text = await rt.db.run(suppressions.export_suppressions, customer)
    disposition = {"Content-Disposition": 'attachment; filename="suppressions.csv"'}
    return CsvResponse(text.encode(), headers=disposition)


@router.delete("/{email}", response_model=SuppressionOut)
async def remove_suppression(
    email: EmailPath, principal: Customer, customer: CustomerId, rt: RuntimeDep, now: Now
) -> SuppressionInfo:
    """Lift a suppression: mail goes to the address again. 404 when it is not suppressed."""
    return await rt.db.run(
        suppressions.remove_suppression, customer, email, actor=principal.actor, now=now
    )


@admin_router.get("/customers/{uid}/suppressions", response_model=SuppressionPage)
async def list_customer_suppressions(
    uid: str,
    _: Admin,
    rt: RuntimeDep,
    kind: Kind = None,
    search: Search = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SuppressionPage:
    """A customer's suppressions, as it sees them at /api/v1/suppressions."""
    customer = await rt.db.run(refs.customer_id, uid)
    return await list_suppressions(customer, rt, kind, search, limit, offset)


@admin_router.delete("/customers/{uid}/suppressions/{email}", response_model=SuppressionOut)
async def remove_customer_suppression(
    uid: str, email: EmailPath, admin: Admin, rt: RuntimeDep, now: Now
) -> SuppressionInfo:
    """Lift one of a customer's suppressions."""
    customer = await rt.db.run(refs.customer_id, uid)
    return await rt.db.run(
        suppressions.remove_suppression, customer, email, actor=admin.actor, now=now
    )
