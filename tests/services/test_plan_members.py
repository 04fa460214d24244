"""Who sends under each plan, read once for every plan, says what the per-plan reads say."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.operations.plan_members import customer_plans, plan_members
from sendpool.services.tenancy.customers import effective_plan_id
from sendpool.store.catalog import region_rules
from sendpool.store.tables import Campaign, Customer
from sendpool.store.waking import campaigns_under, customers_under
from tests.support.scenario import apply, make_campaign, smtp_server


def _world(rt: Runtime) -> dict[str, int]:
    """Three plans; a region rule that beats a customer's own plan; campaigns of each kind."""
    apply(
        rt,
        {
            "servers": [smtp_server("a", 9), smtp_server("b", 9)],
            "plans": [
                {"name": "Shared", "servers": ["a"]},
                {"name": "EU", "servers": ["b"]},
                {"name": "Empty", "servers": []},
            ],
            "customers": [
                {"name": "acme", "plan": "Shared", "sending_domains": ["example.com"]},
                {"name": "berlin", "plan": "Shared", "region": "eu", "sending_domains": ["b.de"]},
                {"name": "oslo", "region": "no-rule"},  # no plan, no rule: under none
            ],
            "region_rules": [{"region": "eu", "plan": "EU"}],
        },
    )
    made = {
        "inherited": make_campaign(rt, 2)[0],  # acme's plan: Shared
        "own": make_campaign(rt, 2, plan="EU")[0],  # its own plan beats acme's
        "regional": make_campaign(rt, 2, customer="berlin", sender="n@b.de")[0],  # EU
        "draft": make_campaign(rt, 2, launched=False)[0],  # not sendable: under none
        "paused": make_campaign(rt, 2)[0],
    }

    def pause(conn: Connection) -> None:
        conn.execute(update(Campaign).where(Campaign.id == made["paused"]).values(status="paused"))

    rt.db.transaction(pause)
    return made


def test_every_plan_s_members_are_the_per_plan_reads(runtime: Runtime) -> None:
    made = _world(runtime)

    def compare(conn: Connection) -> None:
        members = plan_members(conn, region_rules(conn))
        for name in ("Shared", "EU", "Empty"):
            plan_id = refs.plan_id(conn, name)
            assert members.customers_of(plan_id) == sorted(customers_under(conn, plan_id)), name
            assert members.campaigns_of(plan_id) == campaigns_under(conn, plan_id), name
        ids = conn.execute(select(Customer.id)).scalars().all()
        assert members.customer_plan == {int(i): effective_plan_id(conn, int(i)) for i in ids}
        eu, shared = refs.plan_id(conn, "EU"), refs.plan_id(conn, "Shared")
        # Spelled out, so that the two ways cannot be wrong alike.
        assert members.campaigns_of(eu) == sorted([made["own"], made["regional"]])
        assert members.campaigns_of(shared) == [made["inherited"]]
        assert members.campaigns_of(refs.plan_id(conn, "Empty")) == []

    runtime.db.transaction(compare)


def test_customer_plans_follow_the_rules_given(runtime: Runtime) -> None:
    _world(runtime)

    def check(conn: Connection) -> None:
        berlin = conn.execute(select(Customer.id).where(Customer.name == "berlin")).scalar_one()
        shared = refs.plan_id(conn, "Shared")
        assert customer_plans(conn, {})[int(berlin)] == shared  # no rule: its own plan
        assert customer_plans(conn, region_rules(conn))[int(berlin)] == refs.plan_id(conn, "EU")

    runtime.db.transaction(check)
