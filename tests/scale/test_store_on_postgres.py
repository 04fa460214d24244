"""The store's own tests, run again on PostgreSQL (each test in a fresh database)."""

from __future__ import annotations

from tests.services.test_csv_import import *  # noqa: F403
from tests.services.test_pool_apply import *  # noqa: F403
from tests.services.test_pool_as_code import *  # noqa: F403
from tests.services.test_send_waiting_now import *  # noqa: F403
from tests.store.test_ledger_sql import *  # noqa: F403
from tests.store.test_queue import *  # noqa: F403
from tests.store.test_weighted_cursor import *  # noqa: F403
