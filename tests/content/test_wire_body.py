"""A body compiled for the wire says what build_mime's whole-text path says, piece by piece.

7bit bodies are the same bytes; quoted-printable ones decode to the same text
within 76-character lines (or no longer than the whole text's); a body said to have no line starting with "." has
none; a value with a line break is left to build_mime.
"""

from __future__ import annotations

import binascii
import dataclasses
import email
import email.policy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sendpool.content.render import CampaignTemplate
from sendpool.content.wire_body import BodyPlan
from sendpool.transports.mime import WireBody, _body, build_mime
from sendpool.transports.smtp import dot_stuff

# Characters that change the encoding or the dots: line breaks, a lone CR, NUL,
# '=', spaces before a break, non-ASCII, and runs long enough to pass 76 and 998.
ALPHABET = st.sampled_from(["a", " ", ".", "=", "\n", "\r", "\x00", "é", "\t", "<p>", "x" * 250])
TEXT = st.lists(ALPHABET, max_size=12).map("".join)


def joined(pieces: list[str], slots: list[int], values: list[str]) -> str:
    out = [pieces[0]]
    for slot, piece in zip(slots, pieces[1:], strict=True):
        out += [values[slot], piece]
    return "".join(out)


def lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


def check(plan: BodyPlan, pieces: list[str], slots: list[int], values: list[str]) -> WireBody:
    wire = plan.wire(values)
    assert wire is not None
    whole = _body(joined(pieces, slots, values))
    assert wire.cte == whole.cte
    if wire.cte == "7bit":
        assert wire.data == whole.data
    else:
        text = joined(pieces, slots, values).replace("\r\n", "\n").replace("\r", "\n")
        assert binascii.a2b_qp(wire.data.replace(b"\r\n", b"\n")) == text.encode("utf-8")
        # binascii's own encoder can end the data with a 77-character line ("=20"
        # after 74): no line may be longer than 76 or than the whole text's.
        assert max(map(len, lines(wire.data))) <= max(76, *map(len, lines(whole.data)))
        assert wire.data.isascii()
    if not wire.dot_lines:
        assert not any(line.startswith(b".") for line in lines(wire.data))
    return wire


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(TEXT, min_size=1, max_size=6),
    fields=st.lists(TEXT, min_size=1, max_size=3),
    data=st.data(),
)
def test_a_plan_writes_what_the_whole_text_would(
    pieces: list[str], fields: list[str], data: st.DataObject
) -> None:
    assume(not any(p.endswith("\r") for p in pieces[:-1]))  # render.py keeps these whole
    slots = [data.draw(st.integers(0, len(fields) - 1)) for _ in pieces[1:]]
    plan = BodyPlan(pieces, slots)
    if any("\n" in fields[s] or "\r" in fields[s] for s in slots):
        assert plan.wire(fields) is None
    else:
        check(plan, pieces, slots, fields)


LONG = "y" * 990

CASES = {
    # pieces, slots, values, cte, dot_lines
    "plain": (["Hello ", ", welcome\n"], [0], ["Ann"], "7bit", False),
    "dot-in-static": (["Hi\n.", "\n"], [0], ["Ann"], "7bit", True),
    "dot-value-at-line-start": (["Hi\n", " there\n"], [0], [".Ann"], "7bit", True),
    "dot-value-mid-line": (["Hi ", " there\n"], [0], [".Ann"], "7bit", False),
    "empty-value-before-static-dot": (["Hi\n", ".x\n"], [0], [""], "7bit", True),
    "value-pushes-line-past-998": ([LONG, "\n"], [0], ["z" * 9], "quoted-printable", False),
    "value-just-fits": ([LONG, "\n"], [0], ["z" * 8], "7bit", False),
    "non-ascii-value": (["Hello ", "\n"], [0], ["José"], "quoted-printable", False),
    "static-long-line": (["x" * 1200, "\n"], [0], ["Ann"], "quoted-printable", False),
    "qp-value-starting-with-dot": (["x" * 1200, "\n"], [0], [".Ann"], "quoted-printable", True),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_encoding_and_dots(case: tuple[list[str], list[int], list[str], str, bool]) -> None:
    pieces, slots, values, cte, dots = case
    wire = check(BodyPlan(pieces, slots), pieces, slots, values)
    assert (wire.cte, wire.dot_lines) == (cte, dots)


def test_a_line_break_in_a_value_is_left_to_build_mime() -> None:
    plan = BodyPlan(["a ", " b"], [0])
    assert plan.wire(["one\ntwo"]) is None
    assert plan.wire(["one\rtwo"]) is None


def test_a_plan_needs_one_piece_more_than_slots() -> None:
    with pytest.raises(ValueError, match="one piece more"):
        BodyPlan(["a", "b"], [0, 0])


def template(html: str) -> CampaignTemplate:
    return CampaignTemplate(
        subject="Hi",
        from_email="news@example.com",
        text_body="Hello {{ first_name }},\n{{ first_name }}\n.leading\n",
        html_body=html,
    )


@pytest.mark.parametrize(
    "html",
    ["<p>{{ first_name }}</p>\n", "<p>" + "long " * 400 + "{{ first_name }}</p>"],
    ids=["7bit-html", "qp-html"],
)
@pytest.mark.parametrize("name", ["Ann", ".Ann", "José", "", "two\nlines"])
def test_rendered_messages_carry_their_bodies_whole(html: str, name: str) -> None:
    msg = template(html).render(
        uid="u" * 32, recipient="r@example.org", fields={"first_name": name}, date="d"
    )
    whole = dataclasses.replace(msg, text_wire=None, html_wire=None, _mime=None)
    parsed = email.message_from_bytes(msg.mime, policy=email.policy.default)
    got = {p.get_content_type(): p.get_content() for p in parsed.iter_parts()}
    assert got["text/plain"].replace("\r\n", "\n") == msg.text
    assert got["text/html"].replace("\r\n", "\n") == msg.html
    if msg.text_wire is not None and msg.text_wire.cte == "7bit":
        assert msg.mime.split(b"--=_sp_")[1] == whole.mime.split(b"--=_sp_")[1]
    # What SMTP carries is the same either way, dots and all.
    assert dot_stuff(msg.mime, msg.dot_lines) == dot_stuff(msg.mime)


def test_jinja_bodies_and_templates_without_fields() -> None:
    jinja = CampaignTemplate(
        subject="s", from_email="news@example.com", text_body="{{ n | upper }}", html_body="<p></p>"
    )
    msg = jinja.render(uid="u" * 32, recipient="r@example.org", fields={"n": "a"}, date="d")
    assert msg.text_wire is None and msg.dot_lines  # Jinja: the whole text is looked at
    static = CampaignTemplate(subject="s", from_email="news@example.com", text_body="same\n")
    msg = static.render(uid="u" * 32, recipient="r@example.org", fields={}, date="d")
    assert msg.text_wire == WireBody("7bit", b"same\r\n", False)
    assert build_mime(msg) == msg.mime


def test_a_header_name_starting_with_a_dot_asks_for_stuffing() -> None:
    plain = CampaignTemplate(subject="s", from_email="news@example.com", text_body="hi\n")
    msg = plain.render(uid="u" * 32, recipient="r@example.org", fields={}, date="d")
    msg.headers[".Odd"] = "yes"
    assert msg.dot_lines
    assert dot_stuff(msg.mime, msg.dot_lines).count(b"\r\n..Odd: yes") == 1
