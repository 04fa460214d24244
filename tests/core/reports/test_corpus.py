"""classify over the corpus of sample reports (tests/corpus/reports/, expected.toml beside them).

Each sample is a hand-written report in the format of the MTA or provider it is
named after; expected.toml says what it must come to: format, kind, status,
recipients, the message its tokens name, loop. A sample without an expectation
(or the reverse) fails, so the corpus and its expectations cannot drift apart.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from sendpool.core.reports import Report, ReportKind, classify
from sendpool.core.reports.mime import DIAGNOSTIC_MAX, ID_MAX, TOKEN_MAX
from sendpool.core.return_path import make_token, read_token

CORPUS = Path(__file__).parents[2] / "corpus" / "reports"
KEY = b"sendpool corpus key"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text())


def test_every_sample_has_an_expectation_and_every_expectation_a_sample() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25


def _message_id(report: Report) -> int | None:
    return next((i for i in (read_token(t, KEY) for t in report.tokens) if i is not None), None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample(name: str) -> None:
    want = EXPECTED[name]
    report = classify((CORPUS / name).read_bytes())
    assert report.format == want["format"]
    assert report.kind.value == want["kind"], report.reason
    assert [r.recipient for r in report.results if r.recipient] == want["recipients"]
    assert (report.results[0].status if report.results else None) == want.get("status")
    if "kinds" in want:
        assert [r.kind.value for r in report.results] == want["kinds"]
    assert _message_id(report) == want.get("message_id")
    assert report.loop is want["loop"]
    assert report.feedback_type == want.get("feedback_type")
    assert report.reported_by == want.get("reported_by")
    assert not report.truncated
    assert report.reason
    for result in report.results:
        assert len(result.diagnostic or "") <= DIAGNOSTIC_MAX
    assert all(len(t) <= TOKEN_MAX for t in report.tokens)
    assert len(report.report_id or "") <= ID_MAX


def test_the_kinds_the_corpus_covers() -> None:
    kinds = {ReportKind(w["kind"]) for w in EXPECTED.values()}
    assert kinds == set(ReportKind)
    formats = {w["format"] for w in EXPECTED.values()}
    assert formats == {"dsn", "arf", "auto_reply", "heuristic", "none"}


def test_the_dsn_fields_are_read_whole() -> None:
    report = classify((CORPUS / "postfix_5_1_1_user_unknown.eml").read_bytes())
    (result,) = report.results
    assert result.action == "failed"
    assert result.remote_mta == "mx.example.org"
    assert result.diagnostic == (
        "550 5.1.1 <jane.doe@example.org>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert report.report_id == "<20261201140211.1001@relay.example.com>"
    assert report.arrival is not None and report.arrival.isoformat() == "2026-12-01T14:02:09+00:00"
    token = make_token(1001, KEY)
    # The envelope id, the returned header, the returned Return-Path, and where the
    # report was delivered are one token here: deduplicated.
    assert report.tokens == (token,)


def _big_dsn(recipients: int) -> bytes:
    blocks = "".join(
        f"Final-Recipient: rfc822; user{i}@example.org\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 user{i}: User unknown\n\n"
        for i in range(recipients)
    )
    return (
        "From: MAILER-DAEMON@relay.example.com\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nfailed\n\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; relay.example.com\n\n"
        f"{blocks}--b--\n"
    ).encode()


def test_ten_thousand_recipients_are_cut_at_max_recipients() -> None:
    report = classify(_big_dsn(10_000))
    assert report.truncated is True
    assert len(report.results) == 1000
    assert report.results[-1].recipient == "user999@example.org"
    assert "only the first 1000" in report.reason
    small = classify(_big_dsn(50), max_recipients=5)
    assert small.truncated and [r.recipient for r in small.results] == [
        f"user{i}@example.org" for i in range(5)
    ]


def test_exactly_max_recipients_is_not_truncated() -> None:
    report = classify(_big_dsn(3), max_recipients=3)
    assert not report.truncated and len(report.results) == 3
    nothing = classify(_big_dsn(3), max_recipients=0)
    assert nothing.truncated and nothing.results == () and nothing.kind is ReportKind.UNKNOWN
