"""Vendor event webhooks, read and verified: SES through SNS, Mailgun, Postmark, SendGrid.

Each vendor module turns a request's bytes into ``VendorEvent``s only after its
vendor's own scheme verifies them, and raises ``WebhookRefused`` otherwise
(docs/design.md §6). Nothing here does I/O: keys, certificates and the time are
arguments; the adapters in ``sendpool.services.webhooks`` fetch and apply.
"""
