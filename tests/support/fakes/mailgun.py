"""A fake of Mailgun's messages.mime and domains endpoints, with Mailgun's error shapes.

Mailgun authenticates with HTTP basic auth, user ``api`` and the API key as
password; a wrong key gets 401 with the plain-text body ``Forbidden``. Errors
are JSON ``{"message": ...}``; a send answers ``{"id": "<...>", "message":
"Queued. Thank you."}``.
"""

from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from tests.support.fakes.http_fake import FakeVendor, Reply, Request, valid_address

_DISPOSITION = re.compile(r'(name|filename)="([^"]*)"')


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """RFC 7578 form data, the bytes of each part kept exactly as sent."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found or not content_type.startswith("multipart/form-data"):
        raise ValueError("not multipart/form-data")
    delimiter = b"--" + found.group(1).encode()
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body without its closing delimiter")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:-1]:
        if not (chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")):
            raise ValueError("malformed part")
        head, _, data = chunk[2:-2].partition(b"\r\n\r\n")
        headers = BytesHeaderParser().parsebytes(head + b"\r\n\r\n")
        params = dict(_DISPOSITION.findall(headers.get("Content-Disposition", "")))
        if "name" not in params:
            raise ValueError("part without a name")
        parts[params["name"]] = Part(
            params["name"], params.get("filename"), headers.get("Content-Type"), data
        )
    return parts


class MailgunFake(FakeVendor):
    def __init__(self, api_key: str = "key-mailgun-test", domain: str = "mg.example.com") -> None:
        super().__init__()
        self.api_key = api_key
        self.domain = domain
        self.state = "active"
        self.accepted: list[tuple[str, bytes]] = []  # (to, MIME bytes)
        self.variables: list[dict[str, str]] = []  # the ``v:`` variables of each send
        self._ids = itertools.count(1)

    def _authorized(self, request: Request) -> bool:
        token = base64.b64encode(f"api:{self.api_key}".encode()).decode()
        return request.headers.get("authorization") == f"Basic {token}"

    def handle(self, request: Request) -> Reply:
        if not self._authorized(request):
            return Reply(401, "Forbidden")
        send = re.fullmatch(r"/v3/([^/]+)/messages\.mime", request.path)
        if send and request.method == "POST":
            if send.group(1) != self.domain:
                return Reply(404, {"message": f"Domain not found: {send.group(1)}"})
            return self._send(request)
        domain = re.fullmatch(r"/v4/domains/([^/]+)", request.path)
        if domain and request.method == "GET":
            if domain.group(1) != self.domain:
                return Reply(404, {"message": "Domain not found"})
            return Reply(200, self._domain_body())
        return Reply(404, {"message": "Not Found"})

    def _send(self, request: Request) -> Reply:
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except ValueError as exc:
            return Reply(400, {"message": f"Invalid multipart request: {exc}"})
        to = parts.get("to")
        if to is None or to.filename is not None:
            return Reply(400, {"message": "'to' parameter is missing"})
        if not valid_address(to.data.decode()):
            return Reply(
                400,
                {"message": "'to' parameter is not a valid address. please check documentation"},
            )
        message = parts.get("message")
        if message is None or message.filename is None:
            return Reply(400, {"message": "'message' parameter is missing (a file upload)"})
        headers = BytesHeaderParser().parsebytes(message.data)
        if not headers.get("From"):
            return Reply(400, {"message": "'from' parameter is missing"})
        self.accepted.append((to.data.decode(), message.data))
        self.variables.append(
            {k[2:]: p.data.decode() for k, p in parts.items() if k.startswith("v:")}
        )
        remote = f"<20261127.{next(self._ids)}@{self.domain}>"
        return Reply(200, {"id": remote, "message": "Queued. Thank you."})

    def _domain_body(self) -> dict[str, object]:
        return {
            "domain": {
                "created_at": "Thu, 13 Oct 2011 18:02:00 GMT",
                "id": "123456789012345678901234",
                "name": self.domain,
                "require_tls": True,
                "smtp_login": f"postmaster@{self.domain}",
                "spam_action": "disabled",
                "state": self.state,
                "type": "custom",
                "web_prefix": "email",
                "web_scheme": "https",
            },
            "receiving_dns_records": [],
            "sending_dns_records": [],
        }
