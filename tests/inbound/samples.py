"""Reports as relays and mailbox providers send them, and the human mail beside them."""

from __future__ import annotations

TOKEN = "aebagbafaydqqcikbmga2dqpca"


def dsn(recipient: str = "gone@example.net", status: str = "5.1.1") -> bytes:
    """An RFC 3464 delivery status notification, shaped like Postfix's."""
    return (
        "From: MAILER-DAEMON@relay.example.org (Mail Delivery System)\r\n"
        f"To: bounces+{TOKEN}@bounce.example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <20240101.dsn@relay.example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; relay.example.org\r\nOriginal-Envelope-Id: {TOKEN}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nX-Sendpool-Message: {TOKEN}\r\n"
        "Subject: Spring sale\r\n\r\n--B--\r\n"
    ).encode()


def arf() -> bytes:
    """An RFC 5965 abuse report from a feedback loop."""
    return (
        "From: fbl@isp.example\r\nTo: fbl@fbl.example.com\r\nSubject: complaint\r\n"
        "Message-ID: <arf-1@isp.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\n"
        f"\r\n--F\r\nContent-Type: text/rfc822-headers\r\n\r\nX-Sendpool-Message: {TOKEN}\r\n"
        "\r\n--F--\r\n"
    ).encode()


def human(subject: str = "Re: your newsletter") -> bytes:
    """Mail a person wrote to the bounce address: not a report."""
    return (
        f"From: Ann <ann@example.net>\r\nTo: bounces@bounce.example.com\r\nSubject: {subject}\r\n"
        "Message-ID: <human-1@example.net>\r\n\r\nPlease take me off your list, thanks.\r\n"
    ).encode()
