"""A fake of SendGrid's ``POST /v3/mail/send`` and ``GET /v3/scopes``, with its error shapes.

SendGrid authenticates with ``Authorization: Bearer KEY``; a send is answered
202 with no body and an ``X-Message-Id`` header; errors are ``{"errors":
[{"message", "field", "help"}]}``, 400 for a bad request, 401 for a bad key and
403 for a From that is not a verified Sender Identity.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.support.fakes.http_fake import FakeVendor, Reply, Request, valid_address

RESERVED = {
    "to", "from", "subject", "reply-to", "cc", "bcc", "content-type",
    "content-transfer-encoding", "x-sg-id", "x-sg-eid", "received", "dkim-signature",
}  # fmt: skip
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"


def errors(
    status: int, *items: tuple[str | None, str], headers: dict[str, str] | None = None
) -> Reply:
    body = {"errors": [{"field": f, "message": m, "help": HELP if f else None} for f, m in items]}
    return Reply(status, body, headers or {})


class SendgridFake(FakeVendor):
    def __init__(self, api_key: str = "SG.test-key.sendpool") -> None:
        super().__init__()
        self.api_key = api_key
        self.scopes = ["mail.send", "user.account.read"]
        self.verified_senders = {"news@example.com"}
        self.accepted: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return errors(
                401, (None, "The provided authorization grant is invalid, expired, or revoked")
            )
        if request.method == "POST" and request.path == "/v3/mail/send":
            return self._send(request)
        if request.method == "GET" and request.path == "/v3/scopes":
            return Reply(200, {"scopes": self.scopes})
        return errors(404, (None, "resource not found"))

    def _send(self, request: Request) -> Reply:
        if "mail.send" not in self.scopes:
            return errors(403, (None, "access forbidden"))
        try:
            body = request.json()
        except ValueError:
            return errors(400, (None, "Bad Request: the JSON body could not be parsed"))
        problems = list(self._problems(body))
        sender = (body.get("from") or {}).get("email")
        if not problems and sender not in self.verified_senders:
            return errors(
                403,
                (
                    "from",
                    "The from address does not match a verified Sender Identity. Mail cannot be"
                    " sent until this error is resolved.",
                ),
            )
        if problems:
            return errors(400, *problems)
        self.accepted.append(body)
        return Reply(202, None, {"X-Message-Id": f"sg{next(self._ids):04d}.filter-test"})

    def _problems(self, body: Any) -> Any:
        personalizations = body.get("personalizations")
        if not isinstance(personalizations, list) or not personalizations:
            yield (
                "personalizations",
                "The personalizations field is required and must have at least one personalization.",
            )
            return
        for i, p in enumerate(personalizations):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                yield (
                    f"personalizations.{i}.to",
                    "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                )
                continue
            for j, address in enumerate(to):
                if not valid_address((address or {}).get("email")):
                    yield f"personalizations.{i}.to.{j}.email", "Does not contain a valid address."
        if not valid_address((body.get("from") or {}).get("email")):
            yield "from.email", "The from email does not contain a valid address."
        if not isinstance(body.get("subject"), str) or not body["subject"]:
            yield (
                "subject",
                "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
            )
        content = body.get("content")
        if not isinstance(content, list) or not content:
            yield (
                "content",
                "Unless a valid template_id is provided, the content parameter is required.",
            )
        else:
            types = [c.get("type") for c in content]
            if "text/plain" in types and types[0] != "text/plain":
                yield (
                    "content",
                    "If present, text/plain content must be first, followed by any other content.",
                )
            for k, c in enumerate(content):
                if not isinstance(c.get("value"), str) or not c["value"]:
                    yield (
                        f"content.{k}.value",
                        "The content value must be a string at least one character in length.",
                    )
        headers = body.get("headers", {})
        if not isinstance(headers, dict):
            yield "headers", "Invalid type. Expected: object."
        else:
            for name, value in headers.items():
                if name.lower() in RESERVED:
                    yield (
                        f"headers.{name}",
                        f"The header '{name}' is reserved and cannot be set in the headers object.",
                    )
                elif not isinstance(value, str):
                    yield f"headers.{name}", "Header values must be strings."
