"""run_from_csv: a CSV becomes a list, a campaign and queued messages, or nothing at all."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from sendpool.errors import InputError, NotFoundError
from sendpool.runtime import Runtime
from sendpool.services.campaigns.drafts import CampaignDraft
from sendpool.services.campaigns.from_csv import CsvCampaign, NoValidRowsError, run_from_csv
from sendpool.store.tables import Campaign, MailingList, Message, Plan, Subscriber
from tests.support.scenario import apply

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
DRAFT = CampaignDraft("Autumn news", "Hello {{ email }}", "news@example.com", text_body="Hi")


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    apply(
        runtime,
        {
            "plans": [{"name": "Marketing"}, {"name": "EU"}],
            "customers": [
                {"name": "acme", "plan": "Marketing", "sending_domains": ["example.com"]}
            ],
        },
    )
    return runtime


def run(rt: Runtime, csv: str, **kwargs: object) -> CsvCampaign:
    values: dict[str, object] = {
        "engine": rt.db.engine,
        "customer": "acme",
        "csv": io.StringIO(csv),
        "draft": DRAFT,
        "public_url": "http://x",
        "now": NOW,
    }
    values.update(kwargs)
    return run_from_csv(**values)  # type: ignore[arg-type]


def counts(rt: Runtime) -> dict[str, int]:
    with rt.db.engine.connect() as conn:
        return {
            model.__tablename__: int(conn.execute(select(func.count()).select_from(model)).scalar())
            for model in (MailingList, Subscriber, Campaign, Message)
        }


def test_a_good_csv_is_imported_created_and_launched(rt: Runtime) -> None:
    made = run(rt, "email,first_name\nada@example.com,Ada\ngrace@example.com,Grace\n")
    assert (made.imported.rows, made.imported.created, made.imported.skipped) == (2, 2, 0)
    assert counts(rt) == {"lists": 1, "subscribers": 2, "campaigns": 1, "messages": 2}
    with rt.db.engine.connect() as conn:
        c = conn.execute(select(Campaign).where(Campaign.id == made.campaign_id)).one()
        list_name = conn.execute(
            select(MailingList.name).where(MailingList.id == made.list_id)
        ).scalar_one()
    assert (c.uid, c.list_id, c.plan_id, c.status) == (made.uid, made.list_id, None, "sending")
    assert c.recipient_count == 2
    assert list_name == "Autumn news 2026-11-20 09:30:00"


def test_a_plan_given_by_name_is_the_campaigns_own(rt: Runtime) -> None:
    made = run(rt, "email\nada@example.com\n", plan="EU", list_name="eu list")
    with rt.db.engine.connect() as conn:
        plan = conn.execute(
            select(Plan.name)
            .join(Campaign, Campaign.plan_id == Plan.id)
            .where(Campaign.id == made.campaign_id)
        ).scalar_one()
        list_name = conn.execute(
            select(MailingList.name).where(MailingList.id == made.list_id)
        ).scalar_one()
    assert (plan, list_name) == ("EU", "eu list")


def test_bad_rows_are_skipped_and_reported_by_line(rt: Runtime) -> None:
    made = run(rt, "email\nada@example.com\nnot an address\ngrace@example.com\n")
    assert (made.imported.rows, made.imported.skipped) == (2, 1)
    assert str(made.imported.errors[0]).startswith("line 3: ")
    assert counts(rt)["messages"] == 2


@pytest.mark.parametrize("csv", ["email\n", "email\nnot an address\n@example.com\n"])
def test_a_csv_without_one_good_row_changes_nothing(rt: Runtime, csv: str) -> None:
    with pytest.raises(NoValidRowsError, match="^people.csv has no valid rows") as caught:
        run(rt, csv, source="people.csv")
    assert caught.value.report.rows == 0
    assert caught.value.report.skipped == csv.count("\n") - 1
    assert counts(rt) == {"lists": 0, "subscribers": 0, "campaigns": 0, "messages": 0}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"customer": "nobody"}, "unknown customer 'nobody'"),
        ({"plan": "Nope"}, "unknown plan 'Nope'"),
    ],
)
def test_an_unknown_customer_or_plan_changes_nothing(
    rt: Runtime, kwargs: dict[str, str], words: str
) -> None:
    with pytest.raises(NotFoundError, match=words):
        run(rt, "email\nada@example.com\n", **kwargs)
    assert counts(rt) == {"lists": 0, "subscribers": 0, "campaigns": 0, "messages": 0}


def test_a_refused_draft_changes_nothing(rt: Runtime) -> None:
    draft = CampaignDraft("c", " ", "news@example.com", text_body="Hi")
    with pytest.raises(InputError, match="subject is empty"):
        run(rt, "email\nada@example.com\n", draft=draft)
    assert counts(rt) == {"lists": 0, "subscribers": 0, "campaigns": 0, "messages": 0}


def test_on_created_comes_after_the_commit_and_before_the_launch(rt: Runtime) -> None:
    seen: list[tuple[str, dict[str, int]]] = []
    made = run(
        rt, "email\nada@example.com\n", on_created=lambda c: seen.append((c.uid, counts(rt)))
    )
    assert seen == [(made.uid, {"lists": 1, "subscribers": 1, "campaigns": 1, "messages": 0})]
    assert counts(rt)["messages"] == 1


def test_without_launch_now_the_campaign_stays_a_draft(rt: Runtime) -> None:
    made = run(rt, "email\nada@example.com\n", launch_now=False)
    with rt.db.engine.connect() as conn:
        status = conn.execute(
            select(Campaign.status).where(Campaign.id == made.campaign_id)
        ).scalar_one()
    assert (status, counts(rt)["messages"]) == ("draft", 0)
