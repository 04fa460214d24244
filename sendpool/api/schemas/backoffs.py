"""An adaptive back-off as the admin API shows it (services/operations/backoffs.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class BackoffOut(BaseModel):
    server_uid: str
    server: str
    group: str
    factor: float  # the share of the server's rate to the group allowed now
    since: datetime
    hold_until: datetime
    until: datetime  # fully recovered then, if nothing engages it again
    rule: str
    reason: str
