"""classify never raises, on any bytes: random input, mutated samples, crafted traps."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendpool.core.reports import Report, ReportKind, classify
from sendpool.core.reports.mime import DIAGNOSTIC_MAX, ID_MAX, MAX_PARTS, TOKEN_MAX

CORPUS = Path(__file__).parents[2] / "corpus" / "reports"
SAMPLES = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml"))]


def _well_formed(report: Report) -> None:
    assert isinstance(report.kind, ReportKind)
    assert report.format in {"dsn", "arf", "auto_reply", "heuristic", "none"}
    assert report.reason
    assert all(len(t) <= TOKEN_MAX for t in report.tokens)
    assert len(report.report_id or "") <= ID_MAX
    assert len(report.reported_by or "") <= ID_MAX
    assert len(report.feedback_type or "") <= 64
    for r in report.results:
        assert len(r.diagnostic or "") <= DIAGNOSTIC_MAX
        assert len(r.recipient or "") <= ID_MAX
        assert len(r.remote_mta or "") <= ID_MAX
        assert len(r.status or "") <= 11 and len(r.action or "") <= 64
    assert report.arrival is None or report.arrival.utcoffset() is not None


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(raw: bytes) -> None:
    _well_formed(classify(raw))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus sample cut, spliced, overwritten or with bytes inserted, a few times over."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["cut", "insert", "overwrite", "splice", "delete"]))
        if op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(chunk)] = chunk
        elif op == "splice":
            other = draw(st.sampled_from(SAMPLES))
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 400))]
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_samples(raw: bytes) -> None:
    _well_formed(classify(raw))


@settings(max_examples=100)
@given(
    st.lists(
        st.sampled_from(
            [
                b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n",
                b"Content-Type: message/delivery-status\n",
                b"Content-Type: message/feedback-report\n",
                b"Content-Type: text/rfc822-headers\n",
                b"Content-Type: message/rfc822\n",
                b"Content-Transfer-Encoding: base64\n",
                b"Final-Recipient: rfc822; a@b\n",
                b"Status: 5.1.1\n",
                b"Action: failed\n",
                b"Feedback-Type: abuse\n",
                b"Auto-Submitted: auto-replied\n",
                b"Subject: =?utf-8?b?%%%?=\n",
                b"From: MAILER-DAEMON@x\n",
                b"X-Failed-Recipients: ,,@,<>\n",
                b"\n",
                b"--b\n",
                b"--b--\n",
                b"\xff\xfe\x00",
                b"<x@y>: 550 5.1.1\n",
            ]
        ),
        max_size=40,
    )
)
def test_grammar_soup(pieces: list[bytes]) -> None:
    _well_formed(classify(b"".join(pieces)))


def test_input_that_is_not_bytes_is_unknown_not_an_error() -> None:
    report = classify(None)  # type: ignore[arg-type]
    assert report.kind is ReportKind.UNKNOWN and report.format == "none"
    assert "unreadable mail" in report.reason


def test_nesting_deeper_than_the_stack_is_unknown_not_an_error() -> None:
    depth = 5_000
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    report = classify(("Subject: deep\n" + head + "\nend\n").encode())
    _well_formed(report)
    assert report.kind is ReportKind.UNKNOWN
    assert report.reason == "unreadable mail: RecursionError"


def test_many_parts_are_walked_only_so_far() -> None:
    parts = "".join("--b\nContent-Type: text/html\n\nx\n" for _ in range(MAX_PARTS + 10))
    raw = (
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"{parts}--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b\nStatus: 5.1.1\n\n--b--\n"
    ).encode()
    # The delivery-status part lies past the walk's bound: not found, not a report.
    assert classify(raw).kind is ReportKind.NOT_A_REPORT


def test_only_max_bytes_of_the_input_are_read() -> None:
    raw = (CORPUS / "postfix_5_1_1_user_unknown.eml").read_bytes()
    assert classify(raw).kind is ReportKind.HARD
    cut = raw.index(b"Final-Recipient")
    assert classify(raw, max_bytes=cut).kind is ReportKind.UNKNOWN  # no recipient block read
    assert classify(raw, max_bytes=-1).kind is ReportKind.NOT_A_REPORT


def test_every_kept_string_is_capped() -> None:
    long = "x" * 5000
    raw = (
        f"Message-ID: <{long}@example.com>\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; {long}\nOriginal-Envelope-Id: {'a' * 65}\n\n"
        f"Final-Recipient: rfc822; {long}@example.org\nAction: {long}\nStatus: 5.1.1\n"
        f"Remote-MTA: dns; {long}\nDiagnostic-Code: smtp; 550 5.1.1 {long}\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nX-Sendpool-Message: {'b' * 65}\n\n--b--\n"
    ).encode()
    report = classify(raw)
    _well_formed(report)
    assert report.tokens == ()  # longer than any token: not a candidate
    assert len(report.results[0].diagnostic or "") == DIAGNOSTIC_MAX
    assert len(report.report_id or "") == ID_MAX


def test_undecodable_headers_and_bodies_are_read_with_replacements() -> None:
    raw = (
        b"From: MAILER-DAEMON@relay.example.com\nSubject: Undelivered \xff\xfe Mail\n"
        b"Content-Type: text/plain; charset=no-such-charset\n\n"
        b"<a@example.org>: 550 5.1.1 unknown \xff user\n"
    )
    report = classify(raw)
    assert report.kind is ReportKind.HARD and report.format == "heuristic"
    assert report.results[0].recipient == "a@example.org"
    assert "\ufffd" in (report.results[0].diagnostic or "")
