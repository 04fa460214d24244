"""/admin/servers: the list, a new server, a server's page with its tests, its form and resume."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection

from sendpool.core.states import ServerStatus
from sendpool.http.context import Now, RuntimeDep, webhook_receiver
from sendpool.secretbox import SecretBox
from sendpool.services.errors import FieldError
from sendpool.services.operations.events import Thresholds
from sendpool.services.servers import checks as server_checks
from sendpool.services.servers import commands as server_commands
from sendpool.services.servers.queries import ServerDetail, get_server
from sendpool.services.tenancy import plans
from sendpool.services.webhooks.info import webhook_info
from sendpool.transports.registry import known_types
from sendpool.web import forms
from sendpool.web.deps import Admin, Form, text
from sendpool.web.render import SignedIn, page, redirect_with_flash
from sendpool.web.route import PageRoute
from sendpool.web.session import Flash
from sendpool.web.views import servers as server_views

router = APIRouter(prefix="/admin/servers", route_class=PageRoute, include_in_schema=False)
TypeName = Annotated[str, Query(max_length=32)]


def _back(request: Request, uid: str, flash: Flash) -> Response:
    return redirect_with_flash(request, f"/admin/servers/{uid}", flash)


@router.get("")
async def list_servers(request: Request, admin: Admin, rt: RuntimeDep, now: Now) -> Response:
    lines = await rt.db.read(server_views.server_lines, rt.box, now, Thresholds.of(rt.settings))
    return page(request, "servers.html", admin=admin, servers=lines)


def _new_page(
    request: Request,
    admin: SignedIn,
    type_name: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return page(
        request,
        "server_new.html",
        admin=admin,
        status=status,
        types=[(t, server_views.type_label(t)) for t in known_types()],
        type_name=type_name,
        type_label=server_views.type_label(type_name),
        sections=_sections(type_name),
        values=values,
        errors=errors,
        secrets_set=[],
    )


def _sections(type_name: str) -> list[tuple[str, list[forms.FormField]]]:
    return [
        ("Connection", forms.connection_fields(type_name)),
        ("Configuration", forms.CONFIG_FIELDS),
        ("Warm-up schedule", forms.WARMUP_FIELDS),
        ("Bounce handler", forms.handler_fields("bounce_handler")),
        ("Feedback loop (FBL) handler", forms.handler_fields("fbl_handler")),
    ]


@router.get("/new")
async def new_server(request: Request, admin: Admin, type: TypeName = "smtp") -> Response:
    type_name = type if type in known_types() else "smtp"
    return _new_page(request, admin, type_name, forms.new_server_values(type_name), {})


@router.post("/new")
async def create_server(
    request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    type_name = text(form, "type")
    if type_name not in known_types():
        return _new_page(request, admin, "smtp", {}, {"type": "choose a server type"}, 422)
    parsed = forms.parse_server(form, type_name, creating=True)
    if not parsed.errors:
        try:
            detail = await rt.db.run(
                server_views.add_server,
                rt.box,
                fields=parsed.fields,
                handlers=parsed.handlers,
                actor=admin.actor,
                now=now,
            )
        except FieldError as exc:
            parsed.errors = dict(exc.errors)
        else:
            flash = Flash("ok", f"Server {detail.name} created", "Test its connection next.")
            return _back(request, detail.uid, flash)
    return _new_page(request, admin, type_name, parsed.raw, parsed.errors, 422)


async def _server_page(
    request: Request,
    admin: SignedIn,
    rt: RuntimeDep,
    now: Now,
    uid: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    test_to: str = "",
    test_from: str = "",
    test_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    thresholds = Thresholds.of(rt.settings)
    info = await rt.db.read(server_views.server_page, rt.box, uid, now, thresholds)
    refusals = webhook_receiver(request).refusals
    webhook = await rt.db.read(webhook_info, rt.box, rt.settings.public_url, uid, refusals)
    shown = forms.server_values(info)
    if values is not None:
        shown = {**shown, **values}
    return page(
        request,
        "server.html",
        admin=admin,
        status=status,
        info=info,
        webhook=webhook,
        s=info.detail,
        sections=_sections(info.detail.type),
        values=shown,
        errors=errors or {},
        secrets_set=[
            *info.detail.secrets_set,
            *(f"{h}.password" for h, v in info.handlers.items() if v.password_set),
        ],
        test_to=test_to,
        test_from=test_from,
        test_errors=test_errors or {},
    )


@router.get("/{uid}")
async def show_server(
    uid: str, request: Request, admin: Admin, rt: RuntimeDep, now: Now
) -> Response:
    return await _server_page(request, admin, rt, now, uid)


@router.post("/{uid}")
async def save_server(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    type_name = text(form, "type")  # which inputs the form had; the server's type stays
    if type_name not in known_types():
        return await _server_page(request, admin, rt, now, uid, status=400)
    parsed = forms.parse_server(form, type_name, creating=False)
    if not parsed.errors:
        try:
            detail = await rt.db.run(
                server_views.save_server,
                rt.box,
                uid,
                changes=parsed.fields,
                handlers=parsed.handlers,
                actor=admin.actor,
                now=now,
            )
        except FieldError as exc:
            parsed.errors = dict(exc.errors)
        else:
            return _back(request, detail.uid, Flash("ok", "Saved", f"{detail.name} is updated."))
    return await _server_page(
        request, admin, rt, now, uid, values=parsed.raw, errors=parsed.errors, status=422
    )


@router.post("/{uid}/test-connection")
async def test_connection(uid: str, request: Request, _: Form, rt: RuntimeDep) -> Response:
    s = rt.settings
    check = await server_checks.test_connection(
        rt.db, rt.box, uid, timeout=s.send_timeout, interval=s.health_check_interval
    )
    if check.ok:
        flash = Flash("ok", "Connection OK", check.detail, check.facts)
    else:
        flash = Flash("error", "Connection failed", check.detail, check.facts)
    return _back(request, uid, flash)


@router.post("/{uid}/test-email")
async def test_email(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    to, from_email = text(form, "to"), text(form, "from_email") or None
    try:
        sent = await server_checks.test_email(
            rt.db, rt.box, uid, to=to, from_email=from_email, timeout=rt.settings.send_timeout
        )
    except FieldError as exc:
        # Beside the test email's own inputs: nothing of the server form was being saved.
        return await _server_page(
            request,
            admin,
            rt,
            now,
            uid,
            test_to=to,
            test_from=from_email or "",
            test_errors=dict(exc.errors),
            status=422,
        )
    facts = {"outcome": sent.outcome, "to": to}
    if from_email:
        facts["from"] = from_email
    if sent.remote_id:
        facts["remote id"] = sent.remote_id
    if sent.accepted:
        return _back(request, uid, Flash("ok", "Test email accepted", sent.detail, facts))
    return _back(request, uid, Flash("error", "Test email not accepted", sent.detail, facts))


@router.post("/{uid}/plans")
async def attach_to_plan(
    uid: str, request: Request, admin: Admin, form: Form, rt: RuntimeDep, now: Now
) -> Response:
    plan_ref = text(form, "plan")
    if not plan_ref:
        return _back(request, uid, Flash("error", "Choose a plan to attach the server to"))
    plan = await rt.db.run(
        plans.attach_server, plan_ref, uid, attach=True, actor=admin.actor, now=now
    )
    return _back(request, uid, Flash("ok", f"Attached to {plan.name}"))


def _resume(
    conn: Connection, box: SecretBox, uid: str, *, actor: str, now: datetime
) -> tuple[ServerDetail, bool]:
    """Only a paused server is resumed: an active or disabled one is left as it is, unaudited."""
    detail = get_server(conn, box, uid)
    if detail.status != ServerStatus.PAUSED:
        return detail, False
    changes = {"status": ServerStatus.ACTIVE}  # clears status_reason, audited as server.update
    resumed = server_commands.update_server(
        conn, box, detail.uid, changes=changes, actor=actor, now=now
    )
    return resumed, True


@router.post("/{uid}/resume")
async def resume_server(
    uid: str, request: Request, admin: Admin, _: Form, rt: RuntimeDep, now: Now
) -> Response:
    """Enabled is not a resume (services/servers/fields.py): this button is, docs/design.md §6.4."""
    detail, resumed = await rt.db.run(_resume, rt.box, uid, actor=admin.actor, now=now)
    if resumed:
        return _back(request, detail.uid, Flash("ok", "Resumed", f"{detail.name} sends again."))
    flash = Flash("error", "Not paused", f"{detail.name} is {detail.status}: nothing to resume.")
    return _back(request, detail.uid, flash)
