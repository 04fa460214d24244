"""Automatic replies (RFC 3834): out-of-office and vacation notices, to be ignored.

RFC 3834 §5 asks automatic responders to send to the envelope sender, which is
our return path, so they land with the bounces. They say nothing about the
address (it is alive), so they are recognised and ignored: by the
``Auto-Submitted`` header (RFC 3834 §5.1), by the headers responders commonly add
(``X-Autoreply``, ``X-Autorespond``, ``Precedence: auto_reply``), and, for
responders that set none, by the opening of the subject in the languages seen
most (English, German, French, Spanish, Italian, Dutch, Portuguese, Polish,
Swedish). A subject is only matched at its start, where responders put it.
"""

from __future__ import annotations

from email.message import Message

from sendpool.core.reports.mime import decoded_header, header

MARK_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
SUBJECTS = (
    "out of office",
    "out of the office",
    "automatic reply",
    "auto-reply",
    "autoreply",
    "auto reply",
    "auto:",
    "[auto-reply]",
    "abwesenheitsnotiz",  # German (Outlook)
    "automatische antwort",
    "abwesend",
    "nicht im büro",
    "réponse automatique",  # French
    "absence du bureau",
    "absent du bureau",
    "message d'absence",
    "respuesta automática",  # Spanish
    "fuera de la oficina",
    "risposta automatica",  # Italian
    "fuori sede",
    "fuori ufficio",
    "automatisch antwoord",  # Dutch
    "afwezig",
    "resposta automática",  # Portuguese
    "ausente",
    "odpowiedź automatyczna",  # Polish
    "autoodpowiedź",
    "autosvar",  # Swedish, Danish, Norwegian
)


def auto_reply_reason(msg: Message) -> str | None:
    """Why ``msg`` is an automatic reply, or None if it does not look like one."""
    submitted = (header(msg, "Auto-Submitted", 64) or "no").lower()
    if not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted} (RFC 3834)"
    for name in MARK_HEADERS:
        if header(msg, name, 64) is not None:
            return f"header {name} marks an automatic reply"
    if (header(msg, "Precedence", 64) or "").lower() == "auto_reply":
        return "Precedence: auto_reply marks an automatic reply"
    subject = decoded_header(msg, "Subject").lower()
    opening = next((s for s in SUBJECTS if subject.startswith(s)), None)
    if opening is not None:
        return f"the subject opens with {opening!r}, an out-of-office reply"
    return None
