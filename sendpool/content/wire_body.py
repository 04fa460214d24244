"""A body template compiled for the wire: the static text encoded once, only the fields per message.

build_mime (transports/mime.py) writes a part as 7bit when its text is ASCII
with every line within RFC 5322's 998 characters, else as quoted-printable.
For a template of plain merge fields the static text is the same in every
message, so its checks and its encoding are done here once; per message only
the fields' values are checked and encoded, and the pieces joined.

- A 7bit body comes out byte for byte as build_mime would write it.
- A quoted-printable body is encoded piece by piece, each piece and each
  value on a line of its own after a soft line break (RFC 2045 §6.7, rule 5):
  once decoded it is the same text, its lines within 76 characters as
  binascii keeps them.
- A value with a line break in it goes back to build_mime's own path, which
  looks at the whole text.

A plan also knows whether a line of the body can start with "." (one SMTP
must double, RFC 5321 §4.5.2), so the transport searches only where one may be.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

from sendpool.transports.mime import (
    LINE_MAX,
    WireBody,
    normal_breaks,
    quoted_printable,
    seven_bit,
)


def _qp_open(text: str) -> bytes:
    """Quoted-printable of text that more text follows on the same line: it ends in a break.

    The text's own last line may end in a soft break, with room for its "="
    within 76 characters: encoded with one more character after it (taken off
    again), it is not the end of the data, so its last line keeps that room
    and its trailing white space stays as it is, before the "=" (RFC 2045 §6.7,
    rule 3). Text that ends in a hard line break needs none.
    """
    if not text or text.endswith("\n"):
        return quoted_printable(text)
    encoded = binascii.b2a_qp(text.encode("utf-8") + b"x", istext=True)[:-1]
    if not encoded.endswith(b"=\n"):
        encoded += b"=\n"
    return encoded.replace(b"\n", b"\r\n")


def _starts_a_line_with_dot(data: bytes) -> bool:
    return data.startswith(b".") or b"\n." in data


class BodyPlan:
    """``pieces``: the static texts around the fields; ``slots``: which field each gap holds.

    ``slots[i]`` (an index into the values a message passes) sits between
    ``pieces[i]`` and ``pieces[i + 1]``, so there is one more piece than slot.
    """

    __slots__ = (
        "slots",
        "_used",
        "seven",
        "_seven",
        "_lines",
        "_widest",
        "_most",
        "_dots7",
        "_starts",
        "_qp",
        "_dots_qp",
    )

    def __init__(self, pieces: Sequence[str], slots: Sequence[int]) -> None:
        if len(pieces) != len(slots) + 1:
            raise ValueError("a body plan needs one piece more than it has slots")
        self.slots = tuple(slots)
        self._used = tuple(sorted(set(slots)))  # the values a message's fields read
        texts = [normal_breaks(p) for p in pieces]
        static = "".join(texts)
        # 7bit when no value spoils it: the static text ASCII, every line of it within
        # bounds; the lines with fields are checked again per message, values and all.
        lines: list[tuple[int, tuple[int, ...]]] = []  # (static length, slots) of each line
        width, on_line = 0, list[int]()
        starts: list[int] = []  # fields that may begin a line, if what precedes is empty
        line_empty = True
        for i, text in enumerate(texts):
            head, *rest = text.split("\n")
            width += len(head)
            for segment in rest:
                lines.append((width, tuple(on_line)))
                width, on_line = len(segment), []
            line_empty = text.endswith("\n") if rest else line_empty and not text
            if i < len(self.slots):
                on_line.append(self.slots[i])
                if line_empty:
                    starts.append(self.slots[i])
        lines.append((width, tuple(on_line)))
        fits = all(w <= LINE_MAX for w, _ in lines)  # a line too long with no value in it
        self.seven = static.isascii() and "\x00" not in static and fits
        self._lines = tuple((w, on) for w, on in lines if on)
        self._widest = max((w for w, _ in self._lines), default=0)
        self._most = max((len(on) for _, on in self._lines), default=0)
        self._seven = [seven_bit(t) for t in texts] if self.seven else []
        # A piece after a value starts in the middle of a line: only the first can
        # begin one itself, every piece can hold a line that begins with ".".
        self._dots7 = texts[0].startswith(".") or any("\n." in t for t in texts)
        self._starts = tuple(sorted(set(starts)))
        # Quoted-printable: each piece and each value starts a line of its own.
        self._qp = [_qp_open(t) for t in texts[:-1]] + [quoted_printable(texts[-1])]
        self._dots_qp = any(map(_starts_a_line_with_dot, self._qp))

    def _fits(self, values: Sequence[str], used: Sequence[str]) -> bool:
        """Whether every line with fields stays within LINE_MAX with these values in it."""
        if self._widest + self._most * max(map(len, used), default=0) <= LINE_MAX:
            return True
        return all(w + sum(len(values[s]) for s in on) <= LINE_MAX for w, on in self._lines)

    def wire(self, values: Sequence[str]) -> WireBody | None:
        """The body with ``values`` in its fields, or None when build_mime must see it whole."""
        used = [values[s] for s in self._used]
        every = "".join(used)  # the checks in C, however many values
        if "\n" in every or "\r" in every:
            return None
        out: list[bytes] = [b""] * (2 * len(self.slots) + 1)
        if self.seven and every.isascii() and "\x00" not in every and self._fits(values, used):
            encoded = dict(zip(self._used, [v.encode("ascii") for v in used], strict=True))
            out[0::2] = self._seven
            out[1::2] = [encoded[s] for s in self.slots]
            dots = (
                self._dots7
                or bool(self._starts)
                and any(not values[s] or values[s][0] == "." for s in self._starts)
            )
            return WireBody("7bit", b"".join(out), dots)
        # Each value encoded once, however often it is used.
        encoded = dict(zip(self._used, [_qp_open(v) for v in used], strict=True))
        out[0::2] = self._qp
        out[1::2] = [encoded[s] for s in self.slots]
        dots = self._dots_qp or any(map(_starts_a_line_with_dot, encoded.values()))
        return WireBody("quoted-printable", b"".join(out), dots)
