"""A small populated world for API tests: two tenants, an admin, servers of every type.

Built through the services (fast, no HTTP), so each test can have its own.
Every secret and every string only one tenant owns is kept, so tests can
scan responses for leaks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, select, update

from sendpool.http.app import create_app
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.access import tokens
from sendpool.services.campaigns.drafts import CampaignDraft, create_campaign
from sendpool.services.campaigns.launch import launch
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.servers import commands as server_commands
from sendpool.services.tenancy import customers, plans, sending_domains
from sendpool.store.tables import DeliveryEvent, MailingList, Message, Suppression, table

SECRETS = {
    "smtp": {"password": "SECRET-smtp-pass-4c1f"},
    "ses": {"secret_access_key": "SECRET-ses-key-9b2e"},
    "mailgun": {"api_key": "SECRET-mailgun-key-77aa"},
    "postmark": {"server_token": "SECRET-postmark-token-e0d3"},
    "sendgrid": {"api_key": "SECRET-sendgrid-key-5f60"},
}
# Port 9 on loopback: nothing listens, so checks and sends fail fast and reach no one.
NOWHERE = "http://127.0.0.1:9"
SETTINGS: dict[str, dict[str, Any]] = {
    "smtp": {"host": "127.0.0.1", "port": 9, "encryption": "none", "username": "mailer"},
    "ses": {"region": "eu-west-1", "access_key_id": "AKIAEXAMPLEEXAMPLE1", "endpoint_url": NOWHERE},
    "mailgun": {"domain": "mg.example.com", "base_url": NOWHERE},
    "postmark": {"base_url": NOWHERE},
    "sendgrid": {"base_url": NOWHERE},
}
ALL_SECRETS = [v for s in SECRETS.values() for v in s.values()]


@dataclass
class World:
    rt: Runtime
    client: httpx.AsyncClient
    tokens: dict[str, str]  # who -> bearer token: admin, a, b, revoked
    ids: dict[str, str] = field(default_factory=dict)
    markers: dict[str, list[str]] = field(default_factory=dict)  # tenant -> strings only it has

    def auth(self, who: str) -> dict[str, str]:
        if who == "none":
            return {}
        if who == "malformed":
            return {"Authorization": "Bearer not-a-token"}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def server_fields(kind: str, name: str, limit: int = 1000) -> dict[str, Any]:
    return {"name": name, "type": kind, "sending_limit": limit, **SETTINGS[kind], **SECRETS[kind]}


def _pool(conn: Connection, rt: Runtime, now: datetime) -> tuple[dict[str, str], dict[str, str]]:
    ids: dict[str, str] = {}
    for kind in SECRETS:
        fields = server_fields(kind, f"{kind}-1")
        d = server_commands.create_server(conn, rt.box, fields=fields, actor="test", now=now)
        ids[f"server_{kind}"] = d.uid
    idle = server_commands.create_server(
        conn, rt.box, fields=server_fields("smtp", "idle-1"), actor="test", now=now
    )
    ids["server_idle"] = idle.uid
    members = [ids["server_smtp"], ids["server_ses"], ids["server_mailgun"]]
    ids["plan"] = plans.create_plan(conn, name="Shared", servers=members, actor="t", now=now).uid
    ids["plan_spare"] = plans.create_plan(conn, name="Spare", actor="test", now=now).uid
    for who in ("a", "b"):
        fields = {"name": f"tenant-{who}", "plan": "Shared"}
        c = customers.create_customer(conn, fields=fields, actor="test", now=now)
        ids[f"customer_{who}"] = c.uid
        sending_domains.add_domain(conn, c.uid, f"{who}-tenant.example", actor="test", now=now)
    empty = customers.create_customer(conn, fields={"name": "tenant-empty"}, actor="t", now=now)
    ids["customer_empty"] = empty.uid
    customers.put_region_rule(conn, "eu", plan="Shared", actor="test", now=now)
    issued = {
        "admin": tokens.create_token(conn, name="ops", customer=None, actor="t", now=now),
        "a": tokens.create_token(conn, name="a-key", customer="tenant-a", actor="t", now=now),
        "b": tokens.create_token(conn, name="b-key", customer="tenant-b", actor="t", now=now),
        "revoked": tokens.create_token(conn, name="old", customer="tenant-a", actor="t", now=now),
    }
    tokens.revoke_token(conn, issued["revoked"].info.uid, actor="test", now=now)
    ids["token_a"] = issued["a"].info.uid
    return ids, {who: t.token for who, t in issued.items()}


def _tenant(conn: Connection, who: str, now: datetime) -> tuple[int, dict[str, str]]:
    cid = refs.customer_id(conn, f"tenant-{who}")
    list_id = get_or_create_list(conn, cid, f"{who.upper()}-newsletter", now)
    csv = "email,first_name\n" + "".join(
        f"{who}{i}@{who}-tenant.example,{who.upper()}{i}\n" for i in range(3)
    )
    import_csv(conn, list_id, io.StringIO(csv), now)
    sender = f"news@{who}-tenant.example"
    draft = CampaignDraft(f"{who}-launched", "Hi {{ first_name }}", sender, text_body="Hello")
    launched, launched_uid = create_campaign(
        conn, customer_id=cid, list_id=list_id, draft=draft, plan_id=None, now=now
    )
    later = CampaignDraft(f"{who}-draft", "Draft", sender, text_body="Later")
    _, draft_uid = create_campaign(
        conn, customer_id=cid, list_id=list_id, draft=later, plan_id=None, now=now
    )
    tx = enqueue_transactional(
        conn,
        customer_id=cid,
        to=f"receipt@{who}-tenant.example",
        subject=f"Receipt for {who}",
        from_email=f"shop@{who}-tenant.example",
        text="Thanks",
        now=now,
    )
    list_uid = conn.execute(select(MailingList.uid).where(MailingList.id == list_id)).scalar_one()
    bounced = f"bounced@{who}-tenant.example"
    conn.execute(
        table(Suppression)
        .insert()
        .values(customer_id=cid, email=bounced, reason="550 5.1.1", kind="hard_bounce")
    )
    return launched, {
        f"suppressed_{who}": bounced,
        f"list_{who}": list_uid,
        f"campaign_{who}": launched_uid,
        f"draft_{who}": draft_uid,
        f"message_{who}": tx,
    }


def mark_sent(conn: Connection, campaign_id: int, server_ref: str, now: datetime) -> None:
    """The campaign's messages went out through the server an hour ago; one complained."""
    server_id = refs.server_id(conn, server_ref)
    M = table(Message)
    conn.execute(
        update(M)
        .where(M.c.campaign_id == campaign_id)
        .values(status="sent", server_id=server_id, sent_at=now - timedelta(hours=1))
    )
    first = conn.execute(select(M.c.id).where(M.c.campaign_id == campaign_id)).scalars().first()
    conn.execute(
        table(DeliveryEvent)
        .insert()
        .values(server_id=server_id, message_id=first, kind="complaint", created_at=now)
    )


def seed_world(rt: Runtime) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """Populate ``rt``'s database; returns (ids, bearer tokens, markers)."""
    now = datetime.now(UTC)
    ids, bearer = rt.db.transaction(_pool, rt, now)
    markers: dict[str, list[str]] = {}
    for who in ("a", "b"):
        campaign_id, tenant_ids = rt.db.transaction(_tenant, who, now)
        launch(rt.db.engine, campaign_id, now)
        rt.db.transaction(mark_sent, campaign_id, ids["server_smtp"], now)
        ids.update(tenant_ids)
        markers[who] = [
            f"{who}-tenant.example",
            f"{who.upper()}-newsletter",
            ids[f"customer_{who}"],
            *tenant_ids.values(),
        ]
    return ids, bearer, markers


def client_for(rt: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(rt))
    return httpx.AsyncClient(transport=transport, base_url="http://sendpool.test")
