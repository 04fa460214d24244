"""Persistence: tables, migrations, the queue and the SQL quota ledger."""
