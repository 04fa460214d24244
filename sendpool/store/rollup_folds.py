"""The statements that fold the rollups' deltas into their totals (PostgreSQL).

Each moves the deltas committed when it starts (``DELETE ... RETURNING``) into
the totals in one statement; store/rollups.fold runs them in order under its
advisory lock, in one transaction. Deltas written meanwhile wait for the next
fold, and every read adds the deltas left, so a read is exact either way.
"""

FOLD_STATEMENTS = (
    """
    WITH moved AS (DELETE FROM queued_deltas RETURNING customer_id, campaign_id, minute, n)
    INSERT INTO queued_by_minute (customer_id, campaign_id, minute, n)
    SELECT customer_id, campaign_id, minute, sum(n) FROM moved GROUP BY 1, 2, 3
    ON CONFLICT (customer_id, campaign_id, minute) DO UPDATE SET n = queued_by_minute.n + excluded.n
    """,
    """
    WITH moved AS (DELETE FROM server_count_deltas RETURNING server_id, status, n)
    INSERT INTO server_counts (server_id, status, n)
    SELECT server_id, status, sum(n) FROM moved GROUP BY server_id, status
    ON CONFLICT (server_id, status) DO UPDATE SET n = server_counts.n + excluded.n
    """,
    """
    WITH moved AS (DELETE FROM transactional_count_deltas RETURNING customer_id, status, n)
    INSERT INTO transactional_counts (customer_id, status, n)
    SELECT customer_id, status, sum(n) FROM moved GROUP BY customer_id, status
    ON CONFLICT (customer_id, status) DO UPDATE SET n = transactional_counts.n + excluded.n
    """,
    """
    WITH moved AS (DELETE FROM campaign_count_deltas RETURNING campaign_id, server_id, status, n),
    live AS (
        SELECT id FROM campaigns WHERE id IN (SELECT campaign_id FROM moved) FOR KEY SHARE
    )
    INSERT INTO campaign_counts (campaign_id, server_id, status, n)
    SELECT campaign_id, server_id, status, sum(n) FROM moved
    WHERE campaign_id IN (SELECT id FROM live)
    GROUP BY campaign_id, server_id, status
    ON CONFLICT (campaign_id, server_id, status) DO UPDATE SET n = campaign_counts.n + excluded.n
    """,
    """
    WITH moved AS (
        DELETE FROM send_deltas
        RETURNING server_id, minute, sender_domain, customer_id, campaign_id, sent
    ),
    minutes AS (
        INSERT INTO sends_by_minute (server_id, minute, sender_domain, sent)
        SELECT server_id, minute, sender_domain, sum(sent) FROM moved
        GROUP BY server_id, minute, sender_domain
        ON CONFLICT (server_id, minute, sender_domain)
        DO UPDATE SET sent = sends_by_minute.sent + excluded.sent
    )
    INSERT INTO sends_by_day (server_id, day, sender_domain, customer_id, campaign_id, sent)
    SELECT server_id, to_char(minute, 'YYYY-MM-DD'), sender_domain, customer_id, campaign_id,
           sum(sent)
    FROM moved GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (server_id, day, sender_domain, customer_id, campaign_id)
    DO UPDATE SET sent = sends_by_day.sent + excluded.sent
    """,
    """
    WITH moved AS (DELETE FROM event_deltas RETURNING server_id, minute, sender_domain, kind, n),
    minutes AS (
        INSERT INTO events_by_minute (server_id, minute, sender_domain, kind, n)
        SELECT server_id, minute, sender_domain, kind, sum(n) FROM moved
        GROUP BY server_id, minute, sender_domain, kind
        ON CONFLICT (server_id, minute, sender_domain, kind)
        DO UPDATE SET n = events_by_minute.n + excluded.n
    )
    INSERT INTO events_by_day (server_id, day, kind, n)
    SELECT server_id, to_char(minute, 'YYYY-MM-DD'), kind, sum(n) FROM moved GROUP BY 1, 2, 3
    ON CONFLICT (server_id, day, kind) DO UPDATE SET n = events_by_day.n + excluded.n
    """,
)
