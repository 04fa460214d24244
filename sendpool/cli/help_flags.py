"""``--help`` without a value type on plain flags: ``--json`` takes no ``<bool>``.

Typer's rich help prints every option's type in its own column, flags
included, so ``--json <bool>`` read as if it wanted a value. Its plain-text
help already leaves flags bare; this makes the rich help do the same.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_typed = TyperOption.display_type_rich


def _display_type_rich(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    return _typed(self, ctx)


def hide_flag_types() -> None:
    """Install once, before the first ``--help`` is printed; installing again changes nothing."""
    TyperOption.display_type_rich = _display_type_rich  # type: ignore[method-assign]
