"""The readers of each format on the shapes the corpus does not show, and the helpers they share."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import Message

import pytest

from sendpool.core.reports import ReportKind, classify
from sendpool.core.reports.mime import (
    address_of,
    clean,
    decoded_header,
    domain_of,
    field_blocks,
    parse_date,
    text_blocks,
    typed_value,
)
from sendpool.core.reports.returned import loops, returned_fields
from sendpool.core.return_path import make_token

KEY = b"k" * 32


def _report(status_block: str, *, top: str = "", returned: str = "") -> bytes:
    tail = f"--b\nContent-Type: text/rfc822-headers\n\n{returned}\n" if returned else ""
    return (
        f"{top}MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: message/delivery-status\n\n{status_block}\n{tail}--b--\n"
    ).encode()


def test_a_dsn_without_a_per_message_block_still_reads_its_recipients() -> None:
    report = classify(
        _report("Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n")
    )
    assert report.kind is ReportKind.HARD and report.reported_by is None
    assert [r.recipient for r in report.results] == ["a@example.org"]


def test_a_dsn_without_a_recipient_block_is_unknown() -> None:
    report = classify(_report("Reporting-MTA: dns; mx.example.org\n\nX-Other: 1\n"))
    assert report.format == "dsn" and report.kind is ReportKind.UNKNOWN
    assert report.results == () and "without a recipient block" in report.reason


def test_original_recipient_is_the_address_sendpool_gave() -> None:
    report = classify(
        _report(
            "Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; target@alias.example\n"
            "Original-Recipient: rfc822; <listed@example.org>\nAction: failed\nStatus: 5.1.1\n"
        )
    )
    assert report.results[0].recipient == "listed@example.org"


def test_a_global_delivery_status_part_is_read_block_by_block() -> None:
    raw = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/global-delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: utf-8; jörg@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; b@example.org\nAction: delayed\nStatus: 4.4.1\n\n--b--\n"
    ).encode()
    report = classify(raw)
    assert [(r.recipient, r.kind) for r in report.results] == [
        ("jörg@example.org", ReportKind.HARD),
        ("b@example.org", ReportKind.DELAY),
    ]
    assert report.reported_by == "mx.example.org"


def test_a_base64_delivery_status_part_is_read_as_text() -> None:
    part = Message()
    part.set_type("message/delivery-status")
    part.set_payload("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\n  continued\n")
    assert list(field_blocks(part)) == [
        {"reporting-mta": "dns; mx"},
        {"final-recipient": "rfc822; a@b continued"},
    ]


def test_field_blocks_skip_what_is_not_a_block() -> None:
    part = Message()
    part.set_type("message/delivery-status")
    block = Message()
    block["Status"] = "5.1.1"
    part.set_payload(["not a message", block])
    assert list(field_blocks(part)) == [{"status": "5.1.1"}]


def test_clean_reads_escaped_bytes_as_utf8_and_replaces_the_rest() -> None:
    assert clean("J\udcc3\udcb6rg  \n  x", 100) == "Jörg x"
    assert clean("bad \udcff byte", 100) == "bad \ufffd byte"
    assert clean("lone \ud800 surrogate", 100) == "lone ? surrogate"
    assert clean("x" * 10, 4) == "xxxx"


def test_text_blocks_unfold_and_ignore_noise() -> None:
    text = " leading continuation\nName: v\n\tmore\nno colon here\n\n\n  \nOther: x"
    assert list(text_blocks(text)) == [{"name": "v more"}, {"other": "x"}]
    assert list(text_blocks("")) == []


def test_a_dsn_names_the_message_by_every_token_it_carries() -> None:
    envid, header, path, to, own = (make_token(i, KEY) for i in (1, 2, 3, 4, 5))
    report = classify(
        _report(
            f"Reporting-MTA: dns; mx\nOriginal-Envelope-Id: {envid.upper()}\n\n"
            "Final-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.1.1\n",
            top=f"To: Bounces <bounces+{own}@bounce.example.com>\n"
            f"Delivered-To: bounces+{own}@bounce.example.com\n",
            returned=f"X-Sendpool-Message: {header}\nReturn-Path: <bounces+{path}@bounce.example.com>\n"
            f"To: someone+{to}@example.org",
        )
    )
    assert report.tokens == (envid, header, path, to, own)


def _arf(fields: str, *, sender: str = "fbl@isp.example") -> bytes:
    return (
        f"From: {sender}\nMessage-ID: <r@isp.example>\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\nreport\n--b\nContent-Type: message/feedback-report\n\n{fields}\n"
        "--b\nContent-Type: message/rfc822\n\nFrom: news@shop.example\nTo: Reader <r@isp.example>\n\nhi\n--b--\n"
    ).encode()


@pytest.mark.parametrize(
    ("feedback_type", "kind"),
    [
        ("abuse", ReportKind.COMPLAINT),
        ("Fraud", ReportKind.COMPLAINT),
        ("not-spam", ReportKind.UNKNOWN),
        ("virus", ReportKind.UNKNOWN),
        ("other", ReportKind.UNKNOWN),
        ("auth-failure", ReportKind.UNKNOWN),
    ],
)
def test_only_abuse_and_fraud_are_complaints(feedback_type: str, kind: ReportKind) -> None:
    report = classify(_arf(f"Feedback-Type: {feedback_type}\nVersion: 1\n"))
    assert report.kind is kind and report.feedback_type == feedback_type.lower()
    assert report.results[0].kind is kind
    assert report.results[0].recipient == "r@isp.example"  # the returned To
    assert report.reported_by == "isp.example"  # From's domain, no Reporting-MTA


def test_an_arf_without_a_feedback_type_is_unknown() -> None:
    report = classify(_arf("Version: 1\n", sender="not an address"))
    assert report.kind is ReportKind.UNKNOWN and report.feedback_type is None
    assert "(none)" in report.reason and report.reported_by is None


def test_an_arf_arrival_date_is_read_as_utc() -> None:
    report = classify(_arf("Feedback-Type: abuse\nArrival-Date: Tue, 1 Dec 2026 15:00:00 +0100\n"))
    assert report.arrival == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def _plain(headers: str, body: str = "hello\n") -> bytes:
    return f"{headers}\n\n{body}".encode()


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("X-Autorespond: yes", "X-Autorespond"),
        ("X-Autoresponder: 1", "X-Autoresponder"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("Subject: Out of Office: your mail", "'out of office'"),
        ("Subject: Respuesta automática: hola", "'respuesta automática'"),
    ],
)
def test_automatic_replies(headers: str, why: str) -> None:
    report = classify(_plain(f"From: a@example.org\n{headers}"))
    assert report.kind is ReportKind.AUTO_REPLY and report.format == "auto_reply"
    assert why in report.reason


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: no",
        "Precedence: bulk",
        "Subject: Re: my out of office reply",  # only the opening counts
        "Subject: =?utf-8?b?a?=",  # a broken encoded word is matched as it came
        "Subject: =?x-no-such-charset?q?Out_of_office?=",
    ],
)
def test_not_automatic_replies(headers: str) -> None:
    assert classify(_plain(f"From: a@example.org\n{headers}")).kind is ReportKind.NOT_A_REPORT


def test_decoded_header_falls_back_to_the_text_as_it_came() -> None:
    msg = Message()
    msg["Subject"] = "=?utf-8?b?a?="
    assert decoded_header(msg, "Subject") == "=?utf-8?b?a?="
    msg.replace_header("Subject", "=?x-unknown?q?Abwesend?=")
    assert decoded_header(msg, "Subject") == "=?x-unknown?q?Abwesend?="
    assert decoded_header(msg, "X-None") == ""


def test_a_heuristic_bounce_with_many_recipients_is_truncated() -> None:
    listed = ", ".join(f"u{i}@example.org" for i in range(12))
    raw = _plain(
        f"From: MAILER-DAEMON@mx.example.org\nX-Failed-Recipients: {listed}",
        "A message could not be delivered.\n\n  u0@example.org\n    550 5.1.1 User unknown\n",
    )
    report = classify(raw, max_recipients=10)
    assert report.truncated and len(report.results) == 10
    assert report.results[0].kind is ReportKind.HARD  # its own paragraph
    assert report.results[1].kind is ReportKind.HARD  # not named in the text: the whole notice
    assert "only the first 10" in report.reason


def test_a_heuristic_bounce_reads_bare_addresses_and_the_copy_that_follows() -> None:
    token = make_token(9, KEY)
    raw = _plain(
        "From: Mail Delivery System <Mailer-Daemon@mx.example.org>\nSubject: Mail delivery failed",
        "The following address(es) failed:\n\n  zoe@example.org\n    550 5.4.4 Unrouteable\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        f"Return-path: <bounces+{token}@bounce.example.com>\nAuto-Submitted: auto-replied\n\nbody\n",
    )
    report = classify(raw)
    assert [(r.recipient, r.kind) for r in report.results] == [("zoe@example.org", ReportKind.HARD)]
    assert report.tokens == (token,)
    assert report.loop is True  # the copy is itself an automatic mail


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("From: MAILER-DAEMON@mx.example.org", "Your mail was received, thank you.\n"),
        ("From: a@example.org\nSubject: Returned mail", "I am returning your book.\n"),
        ("From: a@example.org", "Code 550 5.1.1 is what the page said.\n"),
    ],
)
def test_bounce_wording_needs_a_mail_system_sender_or_subject_and_a_code(
    headers: str, body: str
) -> None:
    assert classify(_plain(headers, body)).format != "heuristic"


def test_a_bounce_without_any_code_stays_unknown() -> None:
    raw = _plain("From: a@example.org\nX-Failed-Recipients: x@example.org", "It failed.\n")
    report = classify(raw)
    assert report.format == "heuristic" and report.kind is ReportKind.UNKNOWN


def test_a_notice_naming_no_recipient_gives_one_result_without_one() -> None:
    raw = _plain("From: postmaster@mx.example.org", "Delivery failed: 550 5.1.1 unknown\n")
    report = classify(raw)
    assert [(r.recipient, r.status) for r in report.results] == [(None, "5.1.1")]


def test_the_returned_part_may_hold_no_message() -> None:
    report = Message()
    report.set_type("multipart/report")
    returned = Message()
    returned.set_type("message/rfc822")
    returned.set_payload([])
    report.set_payload([returned])
    assert returned_fields(report) == {}


@pytest.mark.parametrize(
    ("fields", "loop"),
    [
        ({}, False),
        ({"auto-submitted": "no"}, False),
        ({"content-type": "multipart/report; report-type=delivery-status"}, True),
        ({"auto-submitted": "auto-generated"}, True),
        ({"x-autoreply": "yes"}, True),
        ({"return-path": "< >"}, True),
        ({"from": "Mail Delivery System <MAILER-DAEMON@mx.example.org>"}, True),
        ({"from": "news@shop.example.com"}, False),
    ],
)
def test_loops(fields: dict[str, str], loop: bool) -> None:
    assert loops(fields) is loop


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rfc822; a@example.org", "a@example.org"),
        ("rfc822;<a@example.org>", "a@example.org"),
        ("dns; mx.example.org", "mx.example.org"),
        ("a@example.org", "a@example.org"),
        ("550 5.1.1 text; more text", "550 5.1.1 text; more text"),  # no type to strip
        ("; a@b", "; a@b"),
        ("rfc822;", None),
        ("", None),
        (None, None),
    ],
)
def test_typed_value(value: str | None, expected: str | None) -> None:
    assert typed_value(value) == expected


@pytest.mark.parametrize(
    ("value", "address", "domain"),
    [
        ("Reader <r@isp.example>", "r@isp.example", "isp.example"),
        ("r@ISP.example", "r@ISP.example", "isp.example"),
        ("not an address", None, None),
        ("two words@x", None, None),
        ("x@", "x@", None),
        (None, None, None),
    ],
)
def test_address_and_domain_of(value: str | None, address: str | None, domain: str | None) -> None:
    assert address_of(value) == address
    assert domain_of(value) == domain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 1 Dec 2026 14:02:09 +0000 (UTC)", datetime(2026, 12, 1, 14, 2, 9, tzinfo=UTC)),
        ("Tue, 1 Dec 2026 06:02:09 -0800", datetime(2026, 12, 1, 14, 2, 9, tzinfo=UTC)),
        ("1 Dec 2026 14:02:09 -0000", datetime(2026, 12, 1, 14, 2, 9, tzinfo=UTC)),
        ("yesterday", None),
        ("Tue, 1 Dec 99999999 14:02:09 +0000", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, expected: datetime | None) -> None:
    assert parse_date(value) == expected


def test_a_bounce_forwarded_as_an_attachment_is_not_taken_for_one() -> None:
    dsn = _report("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; a@b\nStatus: 5.1.1\n")
    raw = (
        b'From: Liam <liam@example.com>\nSubject: Fwd: look at this\nContent-Type: multipart/mixed; boundary="o"\n\n'
        b"--o\nContent-Type: text/plain\n\nWhat does this mean?\n"
        b"--o\nContent-Type: message/rfc822\n\n" + dsn + b"\n--o--\n"
    )
    assert classify(dsn).kind is ReportKind.HARD
    assert classify(raw).kind is ReportKind.NOT_A_REPORT
