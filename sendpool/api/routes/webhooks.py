"""/api/v1/webhooks/{server_uid}/{vendor}: vendors report what became of their messages.

No bearer token: each vendor proves itself by its own scheme (an SNS signature
with a pinned certificate, Mailgun's HMAC, SendGrid's ECDSA, Postmark's basic
auth in the URL), checked in ``services.webhooks``. The answer is 2xx only for
what was accepted, so a vendor retries what we could not take, and 4xx for
what we never will (forged, stale, replayed, malformed), so it stops.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from sendpool.core.webhooks.events import MAX_BODY
from sendpool.http.context import webhook_receiver
from sendpool.services.webhooks.receive import WebhookRequest

router = APIRouter(tags=["webhooks"])

Uid = Annotated[str, Path(min_length=1, max_length=64, description="The vendor server's uid.")]
Vendor = Annotated[str, Path(min_length=1, max_length=20, description="ses, mailgun, ...")]


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        user, sep, password = (
            base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


async def _body(request: Request) -> bytes | None:
    """The raw bytes, as the vendor signed them; None when over MAX_BODY."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/v1/webhooks/{server_uid}/{vendor}",
    summary="Receive a vendor's event webhook",
    responses={
        200: {"description": "Accepted: how many events, and what became of them."},
        400: {"description": "Malformed."},
        401: {"description": "Credentials missing or wrong."},
        403: {"description": "Signature, timestamp, token, topic or certificate refused."},
        404: {"description": "No server of that vendor with that uid."},
        413: {"description": "Too large, or too many events."},
        415: {"description": "Wrong content type."},
    },
)
async def receive(server_uid: Uid, vendor: Vendor, request: Request) -> JSONResponse:
    """Verified by the vendor's own scheme; see the server's page for the URL to paste."""
    body = await _body(request)
    if body is None:
        return JSONResponse({"detail": f"the body is larger than {MAX_BODY} bytes"}, 413)
    headers = {k.lower(): v for k, v in request.headers.items()}
    call = WebhookRequest(body, headers, _basic_auth(request.headers.get("authorization")))
    answer = await webhook_receiver(request)(server_uid, vendor, call, datetime.now(UTC))
    return JSONResponse(answer.body, answer.status)
