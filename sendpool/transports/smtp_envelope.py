"""The SMTP envelope of one message: its return path, and the DSN parameters (RFC 3461).

With a return-path token and a bounce domain, the envelope sender is
``local+TOKEN@domain`` (docs/design.md §6), so reports come back to sendpool
and name their message; otherwise it is the message's sender, as always. Only
a server whose EHLO offered DSN is given the DSN parameters: ``RET=HDRS`` and
``ENVID=TOKEN`` on MAIL, ``NOTIFY=FAILURE,DELAY`` on RCPT. Anything else
would be refused with 555 (RFC 5321 §4.1.1.11), or worse, accepted and
misread.
"""

from __future__ import annotations

from sendpool.core.return_path import return_path_address
from sendpool.transports.message import OutgoingMessage
from sendpool.transports.spec import ServerSpec

# RFC 3461 §4.4: the ENVID value, as xtext, is at most 100 characters.
ENVID_MAX = 100
# RFC 3461 §4.1: reports of failures and delays; successes are not worth a message each.
NOTIFY = b" NOTIFY=FAILURE,DELAY"


def xtext(value: str) -> str:
    """RFC 3461 §4: printable ASCII but "+" and "=" as it is, every other byte as +XX."""
    out = []
    for byte in value.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


def return_path(message: OutgoingMessage, spec: ServerSpec) -> str | None:
    """The return-path address this server sends the message with, or None for none."""
    if message.return_token is None or not spec.bounce_domain:
        return None
    return return_path_address(spec.bounce_local, message.return_token, spec.bounce_domain)


def mail_command(sender: str, *, smtputf8: bool, envid: str | None) -> bytes:
    """``MAIL FROM``; ``envid`` given: the server offered DSN and the message has a token."""
    params = b" SMTPUTF8" if smtputf8 else b""  # RFC 6531 §3.4
    if envid is not None:
        params += b" RET=HDRS"  # the headers back, never the whole message (RFC 3461 §4.3)
        encoded = xtext(envid)
        if len(encoded) <= ENVID_MAX:  # longer: refused by the server, so left out
            params += b" ENVID=" + encoded.encode("ascii")
    return b"MAIL FROM:<" + sender.encode() + b">" + params + b"\r\n"


def rcpt_command(recipient: str, *, notify: bool) -> bytes:
    return b"RCPT TO:<" + recipient.encode() + b">" + (NOTIFY if notify else b"") + b"\r\n"
