"""Per-provider throttles end to end: a real worker, a real SMTP sink, Gmail held to its rate.

The relay may send 4 a second (burst 2) to Gmail and has no limit otherwise: all
the mail goes, each message once, and Gmail's waits at its rate with the reason
"gmail: rate 4/s reached" counted among the dispatcher's skips.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.store.tables import DispatchSkip
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.sinks import StartSinks

pytestmark = pytest.mark.slow

GMAIL, OTHERS = 12, 12


async def test_gmail_waits_at_its_rate_and_the_rest_goes(
    runtime: Runtime, sinks: StartSinks
) -> None:
    [sink] = await sinks(1)
    apply(
        runtime,
        {
            "servers": [smtp_server(sink.name, sink.port)],
            "plans": [{"name": "P", "servers": [sink.name]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
            "provider_limits": [
                {
                    "server": sink.name,
                    "group": "gmail",
                    "rate_per_second": 4,
                    "burst": 2,
                    "messages_per_connection": 3,
                }
            ],
        },
    )
    rows = [f"g{i}@gmail.com,G{i}\n" for i in range(GMAIL)]
    rows += [f"o{i}@example.org,O{i}\n" for i in range(OTHERS)]
    _, uid = make_campaign(runtime, 0, csv="email,first_name\n" + "".join(rows))
    done = await send_until_settled(runtime, uid)
    assert done.by_status == {"sent": GMAIL + OTHERS}
    got = [r for m in sink.messages for r in m.recipients]
    assert sorted(got) == sorted(r.split(",")[0] for r in rows)  # each once
    skips = runtime.db.transaction(
        lambda c: c.execute(select(DispatchSkip.code, DispatchSkip.last_reason)).all()
    )
    assert ("group_rate", "gmail: rate 4/s reached") in [tuple(s) for s in skips]
