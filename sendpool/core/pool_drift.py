"""One truth for limits: what ``pool apply`` does with each field the file names.

A field the file names is the file's. The value the last apply wrote is kept
beside it; when the database no longer holds that value, someone changed the
field elsewhere (the API, the pages, the rebalancer) since the last apply:
that is drift, reported and kept until the operator passes ``--force`` or
writes the new value into the file. Without an earlier apply to compare
with, the file's value is applied.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    SAME = "same"  # the database already holds the file's value
    APPLY = "apply"  # the file's value is written
    DRIFT = "drift"  # changed elsewhere since the last apply: kept, reported


NOT_APPLIED = object()  # no earlier apply wrote this field


def field_verdict(current: object, wanted: object, applied: object, *, force: bool) -> Verdict:
    """What to do with one field: ``applied`` is what the last apply wrote, or NOT_APPLIED."""
    if current == wanted:
        return Verdict.SAME
    if force or applied is NOT_APPLIED or applied == current:
        return Verdict.APPLY
    return Verdict.DRIFT


def member_verdict(
    attached: bool, listed: bool, applied: frozenset[str] | None, name: str, *, force: bool
) -> Verdict:
    """A server's place in a plan: ``attached`` now, ``listed`` by the file.

    ``applied`` holds the servers the last apply left in the plan (None: never
    applied). One attached elsewhere and not listed stays attached; one the
    file listed before and someone detached since stays detached.
    """
    if attached == listed:
        return Verdict.SAME
    if force or applied is None or (name in applied) == attached:
        return Verdict.APPLY
    return Verdict.DRIFT
