"""What comes back after a send: bounces, complaints, unsubscribes and vendor events.

This is the home of the return path (see docs/design.md §6). Reports arrive
four ways: an inbound SMTP/LMTP listener, IMAP bounce and feedback-loop
mailboxes, signed vendor webhooks, and one-click or mailto unsubscribes.
Each adapter turns what it received into bytes or a parsed payload and hands
it here; the classification (DSN, ARF, auto-reply, vendor event) and the
consequences (suppression, per-server rates, automatic pause) are pure
decisions in ``sendpool.core``, applied by the modules of this package.

Planned modules: ``tokens`` (the keyed return-path token), ``dsn`` and
``arf`` adapters, ``mailboxes`` (IMAP polling), ``webhooks`` (one per
vendor), ``consequences`` (applying the core's verdict once per event).
"""
