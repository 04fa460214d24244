"""A fake of Postmark's ``POST /email`` and ``GET /server``, with Postmark's error shapes.

Postmark authenticates with ``X-Postmark-Server-Token``; it wants JSON in and
JSON out (``Accept`` and ``Content-Type``); every refusal is ``{"ErrorCode": N,
"Message": ...}``, with HTTP 401 for a bad token and 422 for the rest.
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from typing import Any

from tests.support.fakes.http_fake import FakeVendor, Reply, Request, valid_address


def error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"ErrorCode": code, "Message": message})


class PostmarkFake(FakeVendor):
    def __init__(self, token: str = "pm-server-token-test") -> None:
        super().__init__()
        self.token = token
        self.signatures = {"news@example.com"}
        self.inactive: set[str] = set()
        self.delivery_type = "Live"
        self.accepted: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Reply:
        if request.headers.get("x-postmark-server-token") != self.token:
            return error(
                401,
                10,
                "The Server Token you provided in the X-Postmark-Server-Token request header"
                " was invalid. Please verify that you are using a valid token.",
            )
        if request.headers.get("accept") != "application/json":
            return error(422, 409, "JSON request required: send Accept: application/json.")
        if request.method == "POST" and request.path == "/email":
            return self._send(request)
        if request.method == "GET" and request.path == "/server":
            return Reply(200, self._server_body())
        return Reply(404, {"ErrorCode": 0, "Message": "Not found"})

    def _send(self, request: Request) -> Reply:
        if request.headers.get("content-type") != "application/json":
            return error(422, 409, "JSON request required: send Content-Type: application/json.")
        try:
            body = request.json()
        except ValueError:
            return error(422, 402, "Received invalid JSON input.")
        if not isinstance(body, dict):
            return error(422, 403, "Incompatible JSON input.")
        _, sender = parseaddr(str(body.get("From") or ""))
        if sender not in self.signatures:
            return error(
                422,
                400,
                f"The 'From' address you supplied ({body.get('From')}) is not a Sender Signature"
                " on your account. Please add and confirm this address in order to be able to"
                " use it in the 'From' field of your messages.",
            )
        to = body.get("To")
        if not valid_address(to):
            return error(422, 300, f"Invalid 'To' address: '{to}'.")
        if not (body.get("TextBody") or body.get("HtmlBody")):
            return error(422, 300, "Provide either email TextBody or HtmlBody or both.")
        if not isinstance(body.get("Subject"), str):
            return error(422, 300, "Subject is required.")
        headers = body.get("Headers", [])
        if not isinstance(headers, list) or not all(
            isinstance(h, dict) and set(h) == {"Name", "Value"} for h in headers
        ):
            return error(422, 300, "Headers must be a list of {Name, Value} objects.")
        if str(to).lower() in self.inactive:
            return error(
                422,
                406,
                "You tried to send to recipient(s) that have been marked as inactive. Found"
                f" inactive addresses: {to}. Inactive recipients are ones that have generated"
                " a hard bounce, a spam complaint, or a manual suppression.",
            )
        self.accepted.append(body)
        return Reply(
            200,
            {
                "To": to,
                "SubmittedAt": "2026-11-27T18:00:00.0000000Z",
                "MessageID": str(uuid.uuid4()),
                "ErrorCode": 0,
                "Message": "OK",
            },
        )

    def _server_body(self) -> dict[str, Any]:
        return {
            "ID": 1,
            "Name": "sendpool-test",
            "ApiTokens": [self.token],
            "Color": "blue",
            "SmtpApiActivated": True,
            "RawEmailEnabled": False,
            "DeliveryType": self.delivery_type,
            "ServerLink": "https://account.postmarkapp.com/servers/1/streams",
            "InboundAddress": "",
            "TrackOpens": False,
            "TrackLinks": "None",
        }
