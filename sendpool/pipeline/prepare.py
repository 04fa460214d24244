"""Turn claimed rows into jobs: render each message once and decide its plan and class."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sendpool.content.render import CampaignTemplate
from sendpool.core.filters.smtputf8 import unsendable
from sendpool.core.plans import resolve_plan
from sendpool.core.return_path import make_token
from sendpool.core.selectors import DealItem
from sendpool.core.servers import (
    AddressNeed,
    SendClass,
    ServerView,
    address_need,
    send_class_for,
)
from sendpool.core.states import CampaignStatus, HoldReason, MessageStatus
from sendpool.core.unsubscribe import make_unsubscribe_token
from sendpool.core.windows import ServerWindows
from sendpool.errors import InputError
from sendpool.pipeline.pool import PoolState
from sendpool.pipeline.ports import Catalog
from sendpool.store.records import CampaignRow, ClaimedMessage, CustomerRow, Held, MessageUpdate
from sendpool.transports.message import OutgoingMessage

# A held message is claimed again this often, to see whether its campaign has resumed.
HOLD_RECHECK = timedelta(seconds=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a reservation time no marks ever carry

# Carried by a message sent again after an attempt whose outcome is unknown.
POSSIBLE_DUPLICATE = "X-Sendpool-Possible-Duplicate"


@dataclass(slots=True)
class Job:
    row: ClaimedMessage
    message: OutgoingMessage
    plan_id: int | None
    send_class: SendClass
    server: ServerView | None = None
    windows: ServerWindows | None = None
    need: AddressNeed = AddressNeed.ASCII  # what its wire addresses ask of a server
    reserved_at: datetime | None = None  # when its unit was reserved, as its marks say
    group: str | None = None  # the recipient's provider group (core/providers.py), if any

    @property
    def domain(self) -> str:
        """The recipient's domain, lower-case: what sticky routing and provider groups read."""
        return self.row.recipient.rpartition("@")[2].lower()

    @property
    def deal_item(self) -> DealItem:
        return DealItem(self.domain, self.group)

    def held(self) -> Held:
        """Its unit, named for the ledger: exactly this reservation of this message."""
        assert self.server is not None and self.windows is not None
        return Held(self.row.id, self.server.id, self.windows, self.reserved_at or EPOCH)


@dataclass(slots=True)
class Prepared:
    jobs: list[Job] = field(default_factory=list)
    settled: list[MessageUpdate] = field(default_factory=list)


class _Cached:
    __slots__ = ("at", "row", "template", "error")

    def __init__(
        self, row: CampaignRow, template: CampaignTemplate | None, error: str | None
    ) -> None:
        self.at = time.monotonic()
        self.row = row
        self.template = template
        self.error = error


class Preparer:
    """``return_path_key`` signs each message's return-path token (docs/design.md §6).

    ``unsubscribe_key`` signs each campaign message's unsubscribe token (its
    subscriber and list); without it no message carries List-Unsubscribe.
    ``bounce_domain`` is the global return-path domain: mail to it reaches
    sendpool's inbound listener, so the header also offers a ``mailto:`` there.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        public_url: str,
        burst_threshold: int,
        ttl: float = 5.0,
        return_path_key: bytes | None = None,
        unsubscribe_key: bytes | None = None,
        bounce_domain: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.public_url = public_url
        self.burst_threshold = burst_threshold
        self.ttl = ttl
        self.return_path_key = return_path_key
        self.unsubscribe_key = unsubscribe_key
        self.bounce_domain = bounce_domain
        self._campaigns: dict[int, _Cached] = {}
        self._customers: dict[int, tuple[float, CustomerRow]] = {}
        self._transactional: dict[tuple[str | None, ...], CampaignTemplate] = {}

    async def _load(self, claimed: list[ClaimedMessage]) -> None:
        now = time.monotonic()
        want = {m.campaign_id for m in claimed if m.campaign_id is not None}
        stale = [
            c for c in want if c not in self._campaigns or now - self._campaigns[c].at > self.ttl
        ]
        for cid, row in (await self.catalog.campaigns(stale)).items():
            try:
                tpl: CampaignTemplate | None = CampaignTemplate(
                    subject=row.subject,
                    from_email=row.from_email,
                    from_name=row.from_name,
                    reply_to=row.reply_to,
                    text_body=row.text_body,
                    html_body=row.html_body,
                    public_url=self.public_url,
                )
                err = None
            except InputError as exc:
                tpl, err = None, str(exc)
            self._campaigns[cid] = _Cached(row, tpl, err)
        wanted = {m.customer_id for m in claimed}
        stale_c = [
            c for c in wanted if c not in self._customers or now - self._customers[c][0] > self.ttl
        ]
        for cid, crow in (await self.catalog.customers(stale_c)).items():
            self._customers[cid] = (now, crow)

    def _transactional_template(self, payload: dict[str, object]) -> CampaignTemplate:
        def s(key: str) -> str | None:
            v = payload.get(key)
            return None if v is None else str(v)

        key = (s("subject"), s("from_email"), s("from_name"), s("reply_to"), s("text"), s("html"))
        tpl = self._transactional.get(key)
        if tpl is None:
            if len(self._transactional) > 1000:
                self._transactional.clear()
            tpl = CampaignTemplate(
                subject=key[0] or "",
                from_email=key[1] or "",
                from_name=key[2],
                reply_to=key[3],
                text_body=key[4],
                html_body=key[5],
                public_url=self.public_url,
            )
            self._transactional[key] = tpl
        return tpl

    async def prepare(
        self, claimed: list[ClaimedMessage], now: datetime, pool: PoolState
    ) -> Prepared:
        await self._load(claimed)
        # Checked at send time too: an address suppressed after its message was
        # queued (a bounce, a complaint, an unsubscribe) gets nothing more.
        suppressed = await self.catalog.suppressed((m.customer_id, m.recipient) for m in claimed)
        date = format_datetime(now)
        out = Prepared()
        # What depends on the plan alone is worked out once per plan in a claim, not per message.
        refusals: dict[tuple[int | None, AddressNeed], str | None] = {}
        return_paths: dict[int | None, bool] = {}
        for m in claimed:
            why = suppressed.get((m.customer_id, m.recipient.lower()))
            if why is not None:
                out.settled.append(_failed(m, now, f"not sent: the address is suppressed ({why})"))
                continue
            customer = self._customers.get(m.customer_id)
            cust = customer[1] if customer else None
            try:
                if m.campaign_id is not None:
                    cached = self._campaigns.get(m.campaign_id)
                    if cached is None:
                        raise InputError("the message's campaign no longer exists")
                    if cached.row.status == CampaignStatus.PAUSED:
                        until = now + HOLD_RECHECK
                        out.settled.append(_hold(m, until, HoldReason.CAMPAIGN_PAUSED))
                        continue
                    if cached.template is None:
                        raise InputError(cached.error or "campaign cannot be rendered")
                    template = cached.template
                    campaign_plan = cached.row.plan_id
                    count: int | None = cached.row.recipient_count
                    fields = m.fields
                    token = self._unsubscribe_token(m, cached.row)
                else:
                    payload = m.payload or {}
                    template = self._transactional_template(payload)
                    campaign_plan = _int(payload.get("plan_id"))
                    count = None
                    raw = payload.get("fields")
                    fields = dict(raw) if isinstance(raw, dict) else {}
                    # Sent to no list unless it names one: then that list's headers.
                    token = self._listed_token(payload.get("unsubscribe"))
                message = template.render(
                    uid=m.uid,
                    recipient=m.recipient,
                    fields=fields,
                    date=date,
                    unsubscribe=token,
                    # Fixed before the MIME is built and the server is picked: the global
                    # domain, which every server's inbound route shares.
                    unsubscribe_domain=self.bounce_domain,
                )
                if m.retry_server_id is not None:
                    # An earlier attempt's reply was lost: this copy may be a second one.
                    # Same Message-ID, and a header saying so (RFC 1047).
                    message.headers[POSSIBLE_DUPLICATE] = "yes"
            except InputError as exc:
                out.settled.append(_failed(m, now, str(exc)))
                continue
            plan_id = resolve_plan(
                campaign_plan,
                cust.plan_id if cust else None,
                cust.region if cust else None,
                pool.rows.region_rules,
            )
            threshold = (
                pool.rows.plan_burst.get(plan_id) if plan_id else None
            ) or self.burst_threshold
            # Decided once, on the wire forms (domains already A-labels): RFC 6531.
            need = address_need(message.envelope_from, message.recipient)
            if (plan_id, need) not in refusals:
                refusals[plan_id, need] = _unsendable(pool, plan_id, need)
            refused = refusals[plan_id, need]
            if refused is not None:
                out.settled.append(_failed(m, now, refused))
                continue
            if plan_id not in return_paths:
                return_paths[plan_id] = _has_return_path(pool, plan_id)
            if self.return_path_key is not None and return_paths[plan_id]:
                # Before the MIME is built, so every server it may go to sends the same bytes.
                message.return_token = make_token(m.id, self.return_path_key)
            send_class = send_class_for(count, threshold)
            group = pool.group_of(message.recipient.rpartition("@")[2].lower())
            message.provider_group = group
            out.jobs.append(Job(m, message, plan_id, send_class, need=need, group=group))
        return out

    def _listed_token(self, listed: object) -> str | None:
        """The token of a transactional message that named its list, else None."""
        if self.unsubscribe_key is None or not isinstance(listed, dict):
            return None
        sid, lid = _int(listed.get("subscriber_id")), _int(listed.get("list_id"))
        if sid is None or lid is None:
            return None
        return make_unsubscribe_token(sid, lid, self.unsubscribe_key)

    def _unsubscribe_token(self, m: ClaimedMessage, campaign: CampaignRow) -> str | None:
        if self.unsubscribe_key is None or m.subscriber_id is None or campaign.list_id is None:
            return None
        return make_unsubscribe_token(m.subscriber_id, campaign.list_id, self.unsubscribe_key)


def _unsendable(pool: PoolState, plan_id: int | None, need: AddressNeed) -> str | None:
    """Why no server of the plan can ever take a message of this need (docs/design.md §1.2)."""
    if plan_id is None or plan_id not in pool.rows.plan_names:
        return None  # the dispatcher makes it wait for a plan
    views = [pool.views[i] for i in sorted(pool.plan_members(plan_id)) if i in pool.views]
    return unsendable(views, need, pool.rows.plan_names[plan_id])


def _has_return_path(pool: PoolState, plan_id: int | None) -> bool:
    """Whether a server the message may go to has a bounce domain (its own or the default)."""
    if plan_id is None:
        return False
    specs = (pool.specs.get(i) for i in pool.plan_members(plan_id))
    return any(s is not None and s.bounce_domain for s in specs)


def _int(v: object) -> int | None:
    return v if isinstance(v, int) else None


def _failed(m: ClaimedMessage, now: datetime, reason: str) -> MessageUpdate:
    return MessageUpdate(m.id, MessageStatus.FAILED, now, m.attempts, last_error=reason)


def _hold(m: ClaimedMessage, until: datetime, reason: HoldReason) -> MessageUpdate:
    """Back in the queue, marked with why; resuming finds it by the mark, people read the text."""
    return MessageUpdate(
        m.id, MessageStatus.QUEUED, until, m.attempts, last_error=reason.text, hold=reason
    )
