"""Render a campaign per recipient from templates compiled once.

Merge fields like ``{{ first_name }}`` are rendered by Jinja2's sandbox, so a
template cannot reach Python objects; HTML output is autoescaped. The subject
is checked after rendering too: a merge field holding a line break would
otherwise smuggle a header in.

``{{ unsubscribe_url }}`` is the message's own one-click unsubscribe URL, the one
its ``List-Unsubscribe`` header carries (RFC 8058); it renders empty in messages
sent to no list (transactional mail), which carry no list headers either.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import escape

from sendpool.content.addresses import address_header, header_text, wire_address
from sendpool.content.wire_body import BodyPlan
from sendpool.errors import InputError, TemplateError
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.mime import WireBody

_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


class _Static:
    """A template without merge fields renders the same for everyone: render it once."""

    __slots__ = ("text", "_wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: WireBody | None = None

    def render(self, _ctx: Mapping[str, Any]) -> str:
        return self.text

    def render_wire(self, _ctx: Mapping[str, Any]) -> tuple[str, WireBody | None]:
        if self._wire is None:
            self._wire = BodyPlan([self.text], []).wire([])
        return self.text, self._wire


class _Fields:
    """Text with plain ``{{ name }}`` merge fields, the common case, joined without Jinja.

    The parts come from Jinja's own parser, and a field renders as Jinja would:
    ``str()`` of the value, escaped in HTML, and nothing for a missing field.
    Each distinct field is converted once however often it is used; the
    static pieces and the values are joined in one C call. The pieces are
    also compiled for the wire (content/wire_body.py), so a body's encoding
    is worked out once per template, not per message.
    """

    __slots__ = ("pieces", "slots", "names", "html", "plan")

    def __init__(self, parts: list[tuple[bool, str]], html: bool) -> None:
        names: list[str] = []
        pieces, slots = [""], []
        for is_field, value in parts:
            if not is_field:
                pieces[-1] += value
                continue
            if value not in names:
                names.append(value)
            slots.append(names.index(value))
            pieces.append("")
        self.pieces = pieces
        self.slots = tuple(slots)
        self.names = tuple(names)
        self.html = html
        # A CR before a field could pair with a LF after an empty one: left to build_mime.
        split_pair = any(p.endswith("\r") for p in pieces[:-1])
        self.plan = None if split_pair else BodyPlan(pieces, slots)

    def _values(self, ctx: Mapping[str, Any]) -> list[str]:
        if self.html:
            return [escape(ctx[n]) if n in ctx else "" for n in self.names]
        return [str(ctx[n]) if n in ctx else "" for n in self.names]

    def _join(self, values: list[str]) -> str:
        out = [""] * (2 * len(self.slots) + 1)
        out[0::2] = self.pieces
        out[1::2] = [values[s] for s in self.slots]
        return "".join(out)

    def render(self, ctx: Mapping[str, Any]) -> str:
        return self._join(self._values(ctx))

    def render_wire(self, ctx: Mapping[str, Any]) -> tuple[str, WireBody | None]:
        values = self._values(ctx)
        return self._join(values), self.plan.wire(values) if self.plan is not None else None


def _simple_fields(
    env: ImmutableSandboxedEnvironment, source: str
) -> list[tuple[bool, str]] | None:
    """The template as text and field names, or None if it uses anything more."""
    parts: list[tuple[bool, str]] = []
    for node in env.parse(source).body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                parts.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                parts.append((True, child.name))
            else:
                return None
    return parts


Compiled = Template | _Static | _Fields

# Merge fields every message has, whatever its recipient's fields: not checked against a list.
BUILT_IN_FIELDS = frozenset({"email", "unsubscribe_url"})


def merge_fields(source: str | None, *, html: bool = False) -> frozenset[str]:
    """The merge fields a template reads: its undeclared names, less Jinja's own globals.

    An invalid template reads none here; compile_template is what refuses it.
    """
    if source is None:
        return frozenset()
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        names = meta.find_undeclared_variables(env.parse(source))
    except TemplateSyntaxError:
        return frozenset()
    return frozenset(names - set(env.globals))


def compile_template(name: str, source: str | None, *, html: bool = False) -> Compiled | None:
    if source is None:
        return None
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        if not meta.find_undeclared_variables(env.parse(source)):
            return _Static(env.from_string(source).render())
        template = env.from_string(source)
        fields = _simple_fields(env, source)
        return _Fields(fields, html) if fields is not None else template
    except SecurityError as exc:
        raise TemplateError(f"{name} is refused by the template sandbox: {exc}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{name} is not a valid template (line {exc.lineno}): {exc.message}"
        ) from None
    except Exception as exc:  # a static template that fails when rendered once
        raise TemplateError(f"{name} failed to render: {exc}") from None


class _Combined:
    """Subject, text and HTML rendered in one pass: one template context, not three.

    Each part is compiled on its own first (for clear errors); this joins them
    with a random separator, the text parts inside ``{% autoescape false %}``.
    """

    def __init__(self, template: Template, sep: str, has_text: bool, has_html: bool) -> None:
        self.template = template
        self.sep = sep
        self.has_text = has_text
        self.has_html = has_html

    def render(self, ctx: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
        subject, text, html = self.template.render(ctx).split(self.sep)
        return subject, text if self.has_text else None, html if self.has_html else None


def _combine(subject: str, text: str | None, html: str | None) -> _Combined | None:
    sep = f"\x1e{uuid.uuid4().hex}\x1e"

    def raw(part: str | None) -> str:
        return "{% autoescape false %}" + (part or "") + "{% endautoescape %}"

    source = sep.join([raw(subject), raw(text), html or ""])
    try:
        return _Combined(_HTML_ENV.from_string(source), sep, text is not None, html is not None)
    except TemplateSyntaxError:  # a part closes a block it did not open: render apart
        return None


class RenderError(InputError):
    """One recipient's message could not be rendered; the others are unaffected."""


class CampaignTemplate:
    """A campaign's subject, sender and bodies, ready to render many times."""

    def __init__(
        self,
        *,
        subject: str,
        from_email: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        text_body: str | None = None,
        html_body: str | None = None,
        public_url: str = "http://127.0.0.1:8025",
    ) -> None:
        if text_body is None and html_body is None:
            raise InputError("a campaign needs a text body, an HTML body or both")
        header_text("subject", subject)
        header_text("from", from_email)
        self.subject = compile_template("subject", subject)
        self.text = compile_template("text body", text_body)
        self.html = compile_template("HTML body", html_body, html=True)
        # One Jinja pass for all three parts when any needs real Jinja; none otherwise.
        full = any(isinstance(t, Template) for t in (self.subject, self.text, self.html))
        self._combined = _combine(subject, text_body, html_body) if full else None
        self.from_email = from_email
        # What servers and headers get: the domain as A-labels (content/addresses.py).
        self.wire_from = wire_address(from_email)
        self.from_header = address_header(header_text("from name", from_name or ""), self.wire_from)
        self.domain = self.wire_from.rpartition("@")[2]
        self.reply_to = header_text("reply-to", reply_to) if reply_to else None
        self.public_url = public_url.rstrip("/")

    def render(
        self,
        *,
        uid: str,
        recipient: str,
        fields: Mapping[str, Any],
        date: str,
        unsubscribe: str | None = None,
        unsubscribe_domain: str | None = None,
    ) -> OutgoingMessage:
        """One recipient's message; ``unsubscribe`` is its unsubscribe token, if it has a list.

        With a token the message carries ``List-Unsubscribe`` (the URL, plus a
        ``mailto:`` on ``unsubscribe_domain`` when mail to that domain reaches
        sendpool) and ``List-Unsubscribe-Post`` (RFC 8058 one-click). Without
        one it carries neither, and ``{{ unsubscribe_url }}`` renders empty: a
        link that names no list would unsubscribe nobody.
        """
        url = f"{self.public_url}/u/{unsubscribe}" if unsubscribe else ""
        ctx = {**fields, "email": recipient, "unsubscribe_url": url}
        text_wire = html_wire = None
        try:
            if self._combined is not None:
                subject, text, html = self._combined.render(ctx)
            else:
                subject = self.subject.render(ctx) if self.subject else ""
                text, text_wire = _render_wire(self.text, ctx)
                html, html_wire = _render_wire(self.html, ctx)
        except SecurityError as exc:
            raise RenderError(f"template refused by the sandbox: {exc}") from None
        except Exception as exc:  # a template error is the campaign's, not the worker's
            raise RenderError(f"template failed to render: {exc}") from None
        header_text("rendered subject", subject)
        headers: dict[str, str] = {}
        if unsubscribe:
            # RFC 2369 §3.2: the URL first, the mailto: for clients that only mail.
            mailto = f", <mailto:unsubscribe+{unsubscribe}@{unsubscribe_domain}>"
            headers["List-Unsubscribe"] = f"<{url}>" + (mailto if unsubscribe_domain else "")
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        return OutgoingMessage(
            uid=uid,
            envelope_from=self.wire_from,
            recipient=wire_address(recipient),
            from_header=self.from_header,
            subject=subject,
            text=text,
            html=html,
            message_id=message_id_for(uid, self.domain),
            date=date,
            headers=headers,
            text_wire=text_wire,
            html_wire=html_wire,
        )


def _render_wire(
    template: Compiled | None, ctx: Mapping[str, Any]
) -> tuple[str | None, WireBody | None]:
    """A body's text and, where its template was compiled for it, its wire form."""
    if template is None:
        return None, None
    if isinstance(template, Template):
        return template.render(ctx), None
    return template.render_wire(ctx)


def message_id_for(uid: str, domain: str) -> str:
    """Stable per message, so every attempt (on any server) carries the same Message-ID."""
    return f"<{uid}@{domain}>"
