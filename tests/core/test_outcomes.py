from __future__ import annotations

import pytest

from sendpool.core.outcomes import (
    Outcome,
    OutcomeKind,
    Stage,
    accepted,
    classify_smtp,
    parse_enhanced,
    smtp_outcome,
)

S, T, P, A = (
    OutcomeKind.SERVER_FAILURE,
    OutcomeKind.TRANSIENT,
    OutcomeKind.PERMANENT,
    OutcomeKind.ACCEPTED,
)


@pytest.mark.parametrize(
    ("stage", "code", "enhanced", "kind"),
    [
        (Stage.CONNECT, None, None, S),  # refused, reset, timed out
        (Stage.CONNECT, 421, None, S),  # 421 at the greeting
        (Stage.CONNECT, 554, None, S),
        (Stage.TLS, None, None, S),
        (Stage.EHLO, 500, None, S),
        (Stage.AUTH, 535, "5.7.8", S),
        (Stage.MAIL, 530, "5.7.0", S),
        (Stage.RCPT, 454, "4.7.0", S),  # throttling
        (Stage.DATA, None, None, S),  # dropped mid-DATA
        (Stage.RCPT, 450, None, T),
        (Stage.RCPT, 451, "4.3.0", T),
        (Stage.RCPT, 452, "4.5.3", T),
        (Stage.RCPT, 421, "4.4.2", T),
        (Stage.RCPT, 552, "5.2.2", T),  # RFC 5321 §4.5.3.1.10
        (Stage.DATA, 550, "4.2.0", T),  # enhanced class 4 wins
        (Stage.DATA, 554, "5.2.2", T),  # mailbox full
        (Stage.RCPT, 550, "5.1.1", P),
        (Stage.DATA, 554, "5.7.1", S),  # RFC 3463 §3.8: a policy refusal of the sender
        (Stage.RCPT, 554, "5.7.1", S),
        (Stage.MAIL, 553, "5.1.8", P),  # the sender's own address: fails, never suppresses
        (Stage.MAIL, 553, None, P),
        (Stage.DATA, 250, None, A),
        (Stage.DATA, 354, None, S),  # a reply outside the protocol
    ],
)
def test_classify(stage: Stage, code: int | None, enhanced: str | None, kind: OutcomeKind) -> None:
    assert classify_smtp(stage, code, enhanced) is kind


def test_smtp_outcome_reads_the_enhanced_code_from_the_text() -> None:
    o = smtp_outcome(Stage.RCPT, 550, "5.1.1 <x@example.com>: user unknown")
    assert (o.kind, o.enhanced) == (P, "5.1.1")
    assert o.suppresses_recipient and o.reached
    assert o.describe() == "rcpt: 550 5.1.1 <x@example.com>: user unknown"


def test_parse_enhanced() -> None:
    assert parse_enhanced("4.7.1 try later") == "4.7.1"
    assert parse_enhanced("Ok") is None
    assert parse_enhanced("3.1.1 x") is None
    assert parse_enhanced("5.x.1 x") is None
    assert parse_enhanced("") is None


def test_which_outcomes_reach_the_server_and_suppress() -> None:
    assert not Outcome(S, Stage.CONNECT).reached
    assert not Outcome(OutcomeKind.THROTTLED, Stage.API).reached
    assert Outcome(T, Stage.RCPT).reached
    assert not Outcome(T, Stage.RCPT).suppresses_recipient
    assert not Outcome(P, Stage.DATA, 554, "5.7.1").suppresses_recipient
    assert not Outcome(P, Stage.RCPT, 554, "5.7.1").suppresses_recipient
    assert not Outcome(P, Stage.MAIL, 553, "5.1.8").suppresses_recipient
    assert not Outcome(P, Stage.RCPT, 550, "5.1.7").suppresses_recipient
    assert Outcome(P, Stage.RCPT, 550, None).suppresses_recipient
    assert Outcome(P, Stage.API, 422, "5.1.3").suppresses_recipient
    assert Outcome(P, None, None, None, "").describe() == "permanent"


def test_accepted() -> None:
    o = accepted("ID1", "queued")
    assert (o.kind, o.remote_id, o.code, o.describe()) == (A, "ID1", 250, "data: 250 queued")


def test_an_enhanced_code_given_apart_from_the_text_is_kept() -> None:
    o = smtp_outcome(Stage.DATA, 554, "rejected", enhanced="5.6.0")
    assert (o.kind, o.enhanced, o.text) == (P, "5.6.0", "rejected")
    assert o.describe() == "data: 554 5.6.0 rejected"
