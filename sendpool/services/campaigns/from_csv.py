"""A campaign from a CSV file in one call: import into a new list, create from a draft, launch.

The recipe behind ``sendpool campaign run``, the demo, the test scenarios and
the benchmarks (docs/design.md §3). The list and the campaign are written in
one transaction, so a refused draft, an unknown customer or plan, or a file
without one good row leaves nothing behind; the launch then runs in batches
of its own, as every launch does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sqlalchemy import Engine

from sendpool.content.csv_import import ImportReport
from sendpool.errors import InputError
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft, check_draft, create_campaign
from sendpool.services.campaigns.launch import launch
from sendpool.services.campaigns.merge_fields import check_merge_fields
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.tenancy.sending_domains import check_sender


class NoValidRowsError(InputError):
    """A CSV without one row to send to; ``report`` holds the rows skipped and why."""

    def __init__(self, source: str, report: ImportReport) -> None:
        self.report = report
        super().__init__(f"{source} has no valid rows; nothing was created")


@dataclass(frozen=True, slots=True)
class CsvCampaign:
    """The campaign made from a CSV, the list it goes to, and what the import did."""

    campaign_id: int
    uid: str
    list_id: int
    imported: ImportReport
    warnings: list[str] = field(default_factory=list)  # merge fields some rows lack


def run_from_csv(
    *,
    engine: Engine,
    customer: str,
    csv: IO[bytes] | IO[str],
    draft: CampaignDraft,
    public_url: str,
    now: datetime,
    plan: str | None = None,
    list_name: str | None = None,
    source: str = "the CSV file",
    launch_now: bool = True,
    on_created: Callable[[CsvCampaign], None] | None = None,
) -> CsvCampaign:
    """Import ``csv`` into a new list of ``customer``, create the campaign, and launch it.

    ``customer`` and ``plan`` are uids or names; without ``plan`` the campaign
    goes out under the customer's own plan (or its region's). The list is
    named ``list_name``, by default the campaign's name and the time (a list
    of that name already there is added to, duplicates merged). Rows
    that cannot be read are skipped and reported in ``imported``; a file with
    no good row raises NoValidRowsError, naming it as ``source``. A sender
    outside the customer's verified sending domains is a FieldError on
    ``from_email``. A merge field that no row of the file has is a FieldError
    naming the column to add, and nothing is created; one some rows lack is
    in ``warnings``.
    ``on_created`` is called once the list and the campaign are committed,
    just before the launch (which is skipped when ``launch_now`` is false).
    """
    draft = check_draft(draft, public_url)
    # engine.begin(), not Database.transaction: a transaction run again after a
    # deadlock would read a stream already consumed and import nothing.
    with engine.begin() as conn:
        customer_id = refs.customer_id(conn, customer)
        plan_id = refs.plan_id(conn, plan) if plan else None
        # Before the import, so a sender outside the customer's domains costs no reading.
        check_sender(conn, customer_id, draft.from_email)
        name = list_name if list_name is not None else f"{draft.name} {now:%Y-%m-%d %H:%M:%S}"
        list_id = get_or_create_list(conn, customer_id, name, now)
        imported = import_csv(conn, list_id, csv, now)
        if imported.rows == 0:
            raise NoValidRowsError(source, imported)
        warnings = check_merge_fields(
            conn, list_id, subject=draft.subject, text=draft.text_body, html=draft.html_body
        )
        campaign_id, uid = create_campaign(
            conn,
            customer_id=customer_id,
            list_id=list_id,
            draft=draft,
            plan_id=plan_id,
            now=now,
        )
    created = CsvCampaign(campaign_id, uid, list_id, imported, warnings)
    if on_created is not None:
        on_created(created)
    if launch_now:
        launch(engine, campaign_id, now)
    return created
