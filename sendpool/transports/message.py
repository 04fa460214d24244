"""A message ready to hand to any server: rendered fields and, built once, its bytes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sendpool.transports.mime import WireBody, build_wire


@dataclass(slots=True)
class OutgoingMessage:
    """Rendered once per message; every attempt (on any server) reuses it.

    The addresses are in their wire form (content/addresses.py, ``wire_address``):
    domains as A-labels, so every server is handed ASCII domains; only a
    non-ASCII local part is left, and it needs SMTPUTF8. The log and the list
    keep the form people read.

    ``headers`` holds the extra headers every transport must carry through
    (Message-ID, List-Unsubscribe, ...). The MIME bytes are built on first use
    and kept, so failover to another server sends the very same bytes.

    ``return_token`` names the message on the return path (core/return_path.py):
    set when a bounce domain applies, it travels in the X-Sendpool-Message header
    and, on SMTP, in the envelope sender and the DSN envelope id.
    """

    uid: str
    envelope_from: str
    recipient: str
    from_header: str
    subject: str
    text: str | None
    html: str | None
    message_id: str
    date: str
    headers: dict[str, str] = field(default_factory=dict)
    return_token: str | None = None
    provider_group: str | None = None  # the recipient's (core/providers.py), for the transport
    # The bodies as their template compiled them for the wire, when it could (content/wire_body.py).
    text_wire: WireBody | None = None
    html_wire: WireBody | None = None
    _mime: bytes | None = None
    _dot_lines: bool = True

    @property
    def mime(self) -> bytes:
        if self._mime is None:
            self._mime, self._dot_lines = build_wire(self)
        return self._mime

    @property
    def dot_lines(self) -> bool:
        """Whether a line of the MIME may start with "." (False only when none can)."""
        if self._mime is None:
            self.mime  # noqa: B018  (built once, and with it the answer)
        return self._dot_lines

    @property
    def from_address(self) -> str:
        return self.envelope_from
