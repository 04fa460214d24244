"""The message a report returns (whole, or its headers): the tokens in it, and whether it loops.

A report names the message it is about three ways (``core/return_path.py``):
the DSN's ``Original-Envelope-Id`` (our ENVID), the ``X-Sendpool-Message``
header of the returned message, and the ``+TOKEN`` of the returned
``Return-Path`` (the envelope sender as the receiver recorded it). They are only
candidates here; verifying one is the caller's part.

sendpool sends no reports, so a returned message that is itself a report or an
auto-reply means mail went round in a loop (a bounce of a bounce): flagged, so
that it moves nothing.
"""

from __future__ import annotations

from email.message import Message

from sendpool.core.reports.mime import Fields, fields_of, first_part, header, text_blocks, text_of
from sendpool.core.return_path import TOKEN_HEADER, token_form, token_of_address

RETURNED_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",  # RFC 6532 §3.7
    "message/global-headers",  # RFC 6533 §6.3
)


def returned_fields(report: Message) -> Fields:
    """The header fields of the returned message or headers; empty when there are none."""
    part = first_part(report, *RETURNED_TYPES)
    if part is None:
        return {}
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = next((p for p in payload if isinstance(p, Message)), None)
        if inner is None:
            return {}
        return fields_of(list(inner.raw_items()))
    return next(text_blocks(text_of(part)), {})


# Where the report itself was delivered: a report goes to the envelope sender, our
# return path, and the final delivery records it (Postfix X-Original-To, Delivered-To).
OWN_ADDRESS_HEADERS = ("To", "X-Original-To", "Delivered-To")


def tokens(envelope_id: str | None, returned: Fields, report: Message) -> tuple[str, ...]:
    """Candidate tokens, deduplicated: the envelope id, then the returned message's
    header, Return-Path and To, then the addresses the report itself was sent to."""
    found = [
        token_form(envelope_id or ""),
        token_form(returned.get(TOKEN_HEADER.lower(), "")),
        token_of_address(returned.get("return-path", "")),
        token_of_address(returned.get("to", "")),
        *(token_of_address(header(report, name) or "") for name in OWN_ADDRESS_HEADERS),
    ]
    return tuple(dict.fromkeys(t for t in found if t is not None))


def loops(returned: Fields) -> bool:
    """Whether the returned message is itself a report or an automatic reply."""
    auto = returned.get("auto-submitted", "no").lower()
    sender = returned.get("from", "").lower()  # "Mail Delivery System <MAILER-DAEMON@...>"
    return (
        returned.get("content-type", "").lower().startswith("multipart/report")
        or not auto.startswith("no")
        or "x-autoreply" in returned
        or returned.get("return-path", "").replace(" ", "") == "<>"
        or "mailer-daemon@" in sender
    )
