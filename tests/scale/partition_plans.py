"""Plans of statements on the partitioned messages table, read as plans of the table itself.

PostgreSQL shows a statement on ``messages`` as an Append over its day
partitions (0021), each scan naming the partition's own copy of an index.
``as_parent`` names each partition index by the index of ``messages`` it is
a copy of, each partition as ``messages``, and leaves out the scans of
empty partitions (a sequential scan of nothing costs nothing), so a test
can still ask which index a statement reads and whether it scans the table.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text


def _renames(conn: Connection) -> tuple[dict[str, str], set[str]]:
    rows = conn.execute(
        text(
            "SELECT c.relname, p.relname, c.relkind FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
            "WHERE p.relname = 'messages' OR p.relname LIKE 'ix\\_messages%' "
            "OR p.relname IN ('pk_messages', 'uq_messages_uid', 'uq_messages_campaign_id')"
        )
    ).all()
    names = {child: parent for child, parent, _ in rows}
    empty = {
        child
        for child, _, kind in rows
        if kind in ("r", "p")
        and conn.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {child})")).scalar_one()
    }
    return names, empty


def as_parent(conn: Connection, plan: str) -> str:
    """The text plan with partitions named as their parents and empty partitions left out."""
    names, empty = _renames(conn)
    out: list[str] = []
    skipping: int | None = None
    for line in plan.splitlines():
        indent = len(line) - len(line.lstrip())
        if skipping is not None:
            if indent > skipping and not line.lstrip().startswith("->"):
                continue  # a detail line of the scan left out
            skipping = None
        scanned = re.search(r"Scan(?: using \S+)? on (\S+)", line)
        if scanned and scanned.group(1) in empty:
            skipping = indent
            continue
        out.append(
            re.sub(r"\b(messages_\w+|ix_messages_\w+)\b", lambda m: names.get(m[1], m[1]), line)
        )
    return "\n".join(out)
