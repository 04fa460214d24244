"""Render a campaign per recipient from templates compiled once.

Merge fields like ``{{ first_name }}`` are rendered by Jinja2's sandbox, so a
template cannot reach Python objects; HTML output is autoescaped. The subject
is checked after rendering too: a merge field holding a line break would
otherwise smuggle a header in.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import formataddr
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from sendpool.campaigns.addresses import header_text
from sendpool.errors import InputError, TemplateError
from sendpool.transports.message import OutgoingMessage

_TEXT_ENV = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_HTML_ENV = ImmutableSandboxedEnvironment(autoescape=True, keep_trailing_newline=True)


class _Static:
    """A template without merge fields renders the same for everyone: render it once."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, _ctx: Mapping[str, Any]) -> str:
        return self.text


def compile_template(
    name: str, source: str | None, *, html: bool = False
) -> Template | _Static | None:
    if source is None:
        return None
    env = _HTML_ENV if html else _TEXT_ENV
    try:
        if not meta.find_undeclared_variables(env.parse(source)):
            return _Static(env.from_string(source).render())
        return env.from_string(source)
    except SecurityError as exc:
        raise TemplateError(f"{name} is refused by the template sandbox: {exc}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"{name} is not a valid template (line {exc.lineno}): {exc.message}"
        ) from None
    except Exception as exc:  # a static template that fails when rendered once
        raise TemplateError(f"{name} failed to render: {exc}") from None


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
        self.from_email = from_email
        self.from_header = formataddr(
            (header_text("from name", from_name or ""), from_email), "utf-8"
        )
        self.domain = from_email.rpartition("@")[2]
        self.reply_to = header_text("reply-to", reply_to) if reply_to else None
        self.public_url = public_url.rstrip("/")

    def render(
        self, *, uid: str, recipient: str, fields: Mapping[str, Any], date: str
    ) -> OutgoingMessage:
        ctx = {**fields, "email": recipient}
        try:
            subject = self.subject.render(ctx) if self.subject else ""
            text = self.text.render(ctx) if self.text else None
            html = self.html.render(ctx) if self.html else None
        except SecurityError as exc:
            raise RenderError(f"template refused by the sandbox: {exc}") from None
        except Exception as exc:  # a template error is the campaign's, not the worker's
            raise RenderError(f"template failed to render: {exc}") from None
        header_text("rendered subject", subject)
        headers = {
            "List-Unsubscribe": (
                f"<{self.public_url}/u/{uid}>, "
                f"<mailto:unsubscribe@{self.domain}?subject=unsubscribe%20{uid}>"
            ),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        if self.reply_to:
            headers["Reply-To"] = self.reply_to
        return OutgoingMessage(
            uid=uid,
            envelope_from=self.from_email,
            recipient=recipient,
            from_header=self.from_header,
            subject=subject,
            text=text,
            html=html,
            message_id=message_id_for(uid, self.domain),
            date=date,
            headers=headers,
        )


def message_id_for(uid: str, domain: str) -> str:
    """Stable per message, so every attempt (on any server) carries the same Message-ID."""
    return f"<{uid}@{domain}>"
