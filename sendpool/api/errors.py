"""sendpool's errors mapped to HTTP once, here; every error answer is a Problem.

FieldError, InputError   422   (nothing was changed)
ConflictError            409
NotFoundError            404
AuthError                401   with WWW-Authenticate: Bearer
ConfigError              500   (the operator's settings, said plainly)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from sendpool.api.schemas.common import FieldProblem, Problem
from sendpool.errors import ConfigError, InputError, NotFoundError
from sendpool.services.errors import AuthError, ConflictError, FieldError
from sendpool.transports.registry import known_types

_WHOLE_BODY = {
    "json_invalid": "the body is not valid JSON ({error}); it is read as JSON whatever its "
    "Content-Type says",
    "missing": "a JSON body is required",
    "model_attributes_type": "the body must be a JSON object",
    "dict_type": "the body must be a JSON object",
    "model_type": "the body must be a JSON object",
}


def problem(
    status: int,
    detail: str,
    errors: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(detail=detail, errors=[FieldProblem(field=f, message=m) for f, m in errors])
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "[key]"]
    if parts[:1] == ["body"]:
        parts = parts[1:]
        # A body chosen by its "type" (sending servers) names that type in the path.
        if len(parts) > 1 and parts[0] in known_types():
            parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        kind = e.get("type", "")
        if kind == "json_invalid" or (loc == ("body",) and kind in _WHOLE_BODY):
            error = (e.get("ctx") or {}).get("error", "")
            out.append(("body", _WHOLE_BODY[kind].format(error=error)))
        elif kind.startswith("union_tag"):
            out.append(("type", e["msg"]))
        elif kind == "extra_forbidden":
            out.append((_field(loc), "unknown field; it is not part of this resource"))
        else:
            out.append((_field(loc), e["msg"]))
    return out


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    return problem(422, "; ".join(f"{f}: {m}" for f, m in errors), errors)


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


async def _on_integrity(_: Request, exc: Exception) -> JSONResponse:
    # Checks run first; this is the race two writers lose to each other on PostgreSQL.
    return problem(409, "conflicts with a change made at the same moment; try again")


async def _on_sendpool(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, AuthError):
        return problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, FieldError):
        return problem(422, str(exc), exc.errors)
    if isinstance(exc, ConflictError):
        # The field at fault too (the name taken), so a client can show it beside its input.
        return problem(409, str(exc), [(exc.field, exc.message)] if exc.field else [])
    if isinstance(exc, NotFoundError):
        return problem(404, str(exc))
    if isinstance(exc, InputError):
        return problem(422, str(exc))
    assert isinstance(exc, ConfigError)
    return problem(500, f"sendpool is misconfigured: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(IntegrityError, _on_integrity)
    for cls in (AuthError, InputError, NotFoundError, ConfigError):
        app.add_exception_handler(cls, _on_sendpool)
