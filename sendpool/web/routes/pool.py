"""/admin/pool: the pool's composition and every server's windows, refreshed while mail flows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sendpool.http.context import Now, RuntimeDep
from sendpool.web.deps import Admin
from sendpool.web.render import ago, number, page, percent
from sendpool.web.route import PageRoute
from sendpool.web.views import pool as pool_views
from sendpool.web.views.pool import PoolPage

router = APIRouter(prefix="/admin/pool", route_class=PageRoute, include_in_schema=False)

# Every chip a server line can show (views/servers.chip_of), best first.
CHIP_NAMES = ("healthy", "warming", "unchecked", "degraded", "paused", "disabled")

# Seconds between refreshes: often while messages wait to be sent, rarely when all is quiet.
BUSY_EVERY = 2
QUIET_EVERY = 5


def live(p: PoolPage, now: datetime) -> dict[str, Any]:
    """What live.js writes into the page: texts, bar widths and chips, by data-live key."""
    text: dict[str, str] = {
        "campaigns_sending": number(p.campaigns_sending),
        "messages_pending": number(p.messages_pending),
    }
    bars: dict[str, float] = {}
    chips: dict[str, str] = {}
    for s in p.servers:
        u = s.usage
        text |= {
            f"{s.uid}.day_used": number(u.day_used),
            f"{s.uid}.day_cap": number(u.day_cap),
            f"{s.uid}.hour_used": number(u.hour_used),
            f"{s.uid}.hour_cap": number(u.hour_cap),
            f"{s.uid}.last_activity": ago(s.last_activity_at, now),
        }
        bars |= {
            f"{s.uid}.day": round(percent(u.day_used, u.day_cap), 2),
            f"{s.uid}.hour": round(percent(u.hour_used, u.hour_cap), 2),
        }
        chips[f"{s.uid}.chip"] = s.chip
    # The counts at the top, for every chip a server can show (0 included: it can change).
    text |= {f"chips.{name}": number(p.chips.get(name, 0)) for name in CHIP_NAMES}
    busy = p.campaigns_sending or p.messages_pending
    return {
        "every": BUSY_EVERY if busy else QUIET_EVERY,
        "text": text,
        "bars": bars,
        "chips": chips,
    }


@router.get("")
async def pool(request: Request, admin: Admin, rt: RuntimeDep, now: Now) -> Response:
    screen = await rt.db.read(pool_views.pool_screen, now)  # one transaction for the page
    return page(
        request,
        "pool.html",
        admin=admin,
        pool=screen.pool,
        every=live(screen.pool, now)["every"],
        chip_names=CHIP_NAMES,
        stories=screen.stories,
        backoffs=screen.backoffs,
        provider_limits=screen.provider_limits,
    )


@router.get("/usage.json")
async def usage(_: Admin, rt: RuntimeDep, now: Now) -> Response:
    p = await rt.db.read(pool_views.pool_page, rt.box, now)
    return JSONResponse(live(p, now))
