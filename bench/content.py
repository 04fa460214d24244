"""A campaign of about 5 KB per message, with merge fields, for the benchmarks."""

from __future__ import annotations

PARAGRAPH = (
    "Our autumn collection has arrived, {{ first_name }}: warm coats, knitted scarves and "
    "boots made to last. Members get free delivery on every order this week, and returns are "
    "free for thirty days. "
)
TEXT = "Hello {{ first_name }},\n\n" + "\n\n".join([PARAGRAPH] * 9) + "\n\n-- The Example Shop\n"
HTML = (
    "<html><body><h1>Hello {{ first_name }}</h1>"
    + "".join(f"<p>{PARAGRAPH}</p>" for _ in range(9))
    + '<p><a href="https://example.com/autumn">Shop the collection</a></p></body></html>'
)
SUBJECT = "{{ first_name }}, the autumn collection is here"


def csv_lines(n: int) -> str:
    return "email,first_name\n" + "".join(f"reader{i}@example.com,Reader{i}\n" for i in range(n))
