"""Checks of a warm-up declaration that span its keys: a daily cap is three keys together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

CAP_KEYS = ("start_daily", "growth_percent", "target_daily")


def warmup_error(loc: str, kind: str, message: str, value: Any) -> ValidationError:
    detail = InitErrorDetails(type=PydanticCustomError(kind, message), loc=(loc,), input=value)
    return ValidationError.from_exception_data("Warmup", [detail])


def cap_keys_together(data: Any, handler: Any) -> Any:
    """A daily cap is start, growth and target together: each one missing is named,
    beside whatever else is wrong with the entry (a wrap validator of the warm-up model)."""
    given = [isinstance(data, Mapping) and data.get(k) is not None for k in CAP_KEYS]
    said = "required for a daily-cap warm-up (start_daily, growth_percent, target_daily)"
    missing = [
        InitErrorDetails(type=PydanticCustomError("missing", said), loc=(k,), input=None)
        for k, g in zip(CAP_KEYS, given, strict=True)
        if any(given) and not g
    ]
    try:
        out = handler(data)
    except ValidationError as exc:
        if not missing:
            raise
        others = [
            InitErrorDetails(
                type=PydanticCustomError(e["type"], e["msg"].replace("{", "(").replace("}", ")")),
                loc=e["loc"],
                input=e.get("input"),
            )
            for e in exc.errors()
        ]
        raise ValidationError.from_exception_data("Warmup", [*missing, *others]) from None
    if missing:
        raise ValidationError.from_exception_data("Warmup", missing)
    return out
