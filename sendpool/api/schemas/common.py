"""Shapes every resource shares: errors, references, strict request bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sendpool.services.servers.fields import NAME_PATTERN as NAME_PATTERN

Name = Field(min_length=1, max_length=200, pattern=NAME_PATTERN)
OptionalName = Field(None, min_length=1, max_length=200, pattern=NAME_PATTERN)


class RequestBody(BaseModel):
    """Unknown keys and wrong JSON types are refused (422 naming the field), never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `warmup.start_daily`.")
    message: str


class Problem(BaseModel):
    """Every error answer: one readable sentence, and the fields at fault when there are any."""

    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)


class Ref(BaseModel):
    uid: str
    name: str


class Deleted(BaseModel):
    uid: str
    outcome: str = Field(description="`deleted`, or `disabled` for a server that has history.")


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "The request cannot be read.",
        401: "No valid bearer token (missing, malformed, unknown or revoked).",
        403: "The token is valid but may not use this route.",
        404: "No such thing, or it belongs to someone else.",
        409: "Clashes with what exists (a name taken, a state that does not allow it).",
        413: "The request body is too large.",
        422: "Bad input; nothing was changed. `errors` names each field.",
    }
    return {c: {"model": Problem, "description": described[c]} for c in codes}
