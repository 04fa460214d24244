"""Registers the server types sendpool ships with."""

from __future__ import annotations

from sendpool.transports.mailgun import MAILGUN_SECRETS, MailgunSettings, MailgunTransport
from sendpool.transports.postmark import POSTMARK_SECRETS, PostmarkSettings, PostmarkTransport
from sendpool.transports.registry import ServerType, register
from sendpool.transports.sendgrid import SENDGRID_SECRETS, SendgridSettings, SendgridTransport
from sendpool.transports.ses import SES_SECRETS, SesSettings, SesTransport
from sendpool.transports.smtp import SmtpTransport
from sendpool.transports.smtp_settings import SMTP_SECRETS, SmtpSettings

# SMTPUTF8 (non-ASCII local parts, RFC 6531), as each provider documents it; a
# provider that does not say it takes them is taken not to. Every type gets its
# domains as A-labels (content/addresses.py), which all of them accept.
# - SMTP: each relay says so in its EHLO (None: learned at its checks).
# - SES: "Amazon SES does not support the SMTPUTF8 extension" (SES v2 API
#   reference, Destination): local parts must be 7-bit ASCII.
# - Mailgun: its messages API supports internationalised addresses through
#   SMTPUTF8 (Mailgun user manual, "Internationalization").
# - Postmark: documents no support for non-ASCII local parts.
# - SendGrid: refuses them ("501 Recipient syntax error"); documents no support.
register(ServerType("smtp", SmtpSettings, SMTP_SECRETS, SmtpTransport, "SMTP relay"))
register(ServerType("ses", SesSettings, SES_SECRETS, SesTransport, "Amazon SES (API v2)", False))
register(ServerType("mailgun", MailgunSettings, MAILGUN_SECRETS, MailgunTransport, "Mailgun", True))
register(
    ServerType("postmark", PostmarkSettings, POSTMARK_SECRETS, PostmarkTransport, "Postmark", False)
)
register(
    ServerType("sendgrid", SendgridSettings, SENDGRID_SECRETS, SendgridTransport, "SendGrid", False)
)
