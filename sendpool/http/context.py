"""What every HTTP face depends on: the runtime this process was built with, and the time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from sendpool.runtime import Runtime
from sendpool.services.webhooks.receive import WebhookReceiver


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def utc_now() -> datetime:
    return datetime.now(UTC)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Now = Annotated[datetime, Depends(utc_now)]


def webhook_receiver(request: Request) -> WebhookReceiver:
    """One receiver per application: it caches SNS certificates and the last refusals."""
    state = request.app.state
    found: WebhookReceiver | None = getattr(state, "webhooks", None)
    if found is None:
        found = state.webhooks = WebhookReceiver(state.runtime)
    return found
