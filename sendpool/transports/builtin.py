"""Registers the server types sendpool ships with."""

from __future__ import annotations

from sendpool.transports.mailgun import MAILGUN_SECRETS, MailgunSettings, MailgunTransport
from sendpool.transports.postmark import POSTMARK_SECRETS, PostmarkSettings, PostmarkTransport
from sendpool.transports.registry import ServerType, register
from sendpool.transports.sendgrid import SENDGRID_SECRETS, SendgridSettings, SendgridTransport
from sendpool.transports.ses import SES_SECRETS, SesSettings, SesTransport
from sendpool.transports.smtp import SmtpTransport
from sendpool.transports.smtp_settings import SMTP_SECRETS, SmtpSettings

register(ServerType("smtp", SmtpSettings, SMTP_SECRETS, SmtpTransport, "SMTP relay"))
register(ServerType("ses", SesSettings, SES_SECRETS, SesTransport, "Amazon SES (API v2)"))
register(ServerType("mailgun", MailgunSettings, MAILGUN_SECRETS, MailgunTransport, "Mailgun"))
register(ServerType("postmark", PostmarkSettings, POSTMARK_SECRETS, PostmarkTransport, "Postmark"))
register(ServerType("sendgrid", SendgridSettings, SENDGRID_SECRETS, SendgridTransport, "SendGrid"))
