"""Vendor webhooks: a request verified by its vendor's scheme, its events applied once.

``receive.py`` is the one entry point the route calls; ``secret.py`` makes each
server's webhook URL; the SNS adapter fetches and caches certificates. Reading
and verifying is the core's (``sendpool.core.webhooks``); what an event changes
is the same as for a report that came back by mail (``services.inbound.apply``).
"""
