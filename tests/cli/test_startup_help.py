"""What ``--help`` quotes from the services, the CLI holds itself; here, the two still agree.

Help must not load the services to print their bounds and names, so the
commands keep copies of them (or derive them from ``sendpool.core``); a
service that gains a kind or a policy fails here until its help says so too.
"""

from __future__ import annotations

from sendpool.cli import bounces, campaign, simulate, suppressions
from sendpool.services.campaigns import overview
from sendpool.services.messages import suppressions as suppression_service
from sendpool.services.operations import events, simulation


def test_event_kinds_are_the_event_lists() -> None:
    assert bounces.EVENT_KINDS == events.EVENT_KINDS


def test_suppression_kinds_are_the_services() -> None:
    assert suppressions.KINDS == suppression_service.KINDS


def test_campaign_statuses_are_the_overviews() -> None:
    assert campaign.STATUSES == overview.STATUSES


def test_simulate_bounds_and_policies_are_the_simulations() -> None:
    assert simulate.MAX_MESSAGES == simulation.MAX_MESSAGES
    assert simulate.MAX_WORKERS == simulation.MAX_WORKERS
    assert list(simulate.POLICIES) == simulation.policy_names()
