"""Which plan a message is sent under."""

from __future__ import annotations

from collections.abc import Mapping


def resolve_plan(
    campaign_plan: int | None,
    customer_plan: int | None,
    customer_region: str | None,
    region_rules: Mapping[str, int],
) -> int | None:
    """The campaign's own plan, else the customer's region rule, else the customer's plan.

    A region rule beats the customer's plain plan because it exists for data
    residency: a customer tagged ``eu`` must send through the EU plan.
    """
    if campaign_plan is not None:
        return campaign_plan
    if customer_region and customer_region in region_rules:
        return region_rules[customer_region]
    return customer_plan
