"""A fake SES v2 endpoint for what moto cannot do: GetAccount and SES's throttling answers.

It speaks the REST-JSON protocol botocore expects: errors carry their code in
the ``x-amzn-ErrorType`` header and ``{"message": ...}`` as the body. Requests
must be signed with SigV4 for the expected access key.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from tests.support.fakes.http_fake import FakeVendor, Reply, Request


def ses_error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status,
        {"message": message},
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
    )


class SesFake(FakeVendor):
    def __init__(self, access_key_id: str = "AKIAFAKESES0000TEST") -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.sending_enabled = True
        self.quota = {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 120.0}
        self.accepted: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth.startswith(f"AWS4-HMAC-SHA256 Credential={self.access_key_id}/"):
            return ses_error(
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        if request.method == "GET" and request.path == "/v2/email/account":
            return Reply(200, self._account())
        if request.method == "POST" and request.path == "/v2/email/outbound-emails":
            body = request.json()
            raw = base64.b64decode(body["Content"]["Raw"]["Data"], validate=True)
            if not raw or not body.get("Destination", {}).get("ToAddresses"):
                return ses_error(400, "BadRequestException", "Missing required parameters.")
            self.accepted.append(body)
            return Reply(200, {"MessageId": f"0100018c-fake-{next(self._ids):06d}"})
        return ses_error(404, "NotFoundException", "Unknown operation.")

    def _account(self) -> dict[str, Any]:
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": True,
            "SendQuota": self.quota,
            "SendingEnabled": self.sending_enabled,
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
        }
