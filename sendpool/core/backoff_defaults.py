"""The back-off rules sendpool ships for the large mailbox providers.

Each one matches the deferral a provider documents or is widely seen to send when
a sender goes too fast, and answers the way the provider asks: slow down, keep
the mail queued, come back gradually. Operators tune them in the pool file
(``[[backoff_rules]]`` with the same name replaces a rule here).
"""

from __future__ import annotations

from datetime import timedelta

from sendpool.core.backoff_rules import BackoffRule, make_rule

_10_MIN = timedelta(minutes=10)

SHIPPED_RULES: tuple[BackoffRule, ...] = (
    # "421-4.7.28 ... Our system has detected an unusual rate of unsolicited mail
    # originating from your IP address ... temporarily rate limited" (and the same
    # for a DKIM or SPF domain): Gmail's own code for "you are sending too fast".
    make_rule(name="gmail-4.7.28", group="gmail", code=421, enhanced="4.7.28", window=_10_MIN),
    # 421 4.7.0 is Gmail's catch-all "try again later": only its rate-limit wording
    # means the rate, so the text decides.
    make_rule(
        name="gmail-4.7.0-rate",
        group="gmail",
        enhanced="4.7.0",
        pattern=r"rate.?limit|unusual rate|too many",
        window=_10_MIN,
    ),
    # "421 4.7.0 [TSS04] Messages from x.x.x.x temporarily deferred due to unexpected
    # volume or user complaints"; [TS01]-[TS03] are older spellings of the same.
    make_rule(
        name="yahoo-deferred",
        group="yahoo",
        code=421,
        pattern=r"\[TSS?0\d\]|temporarily deferred",
        window=_10_MIN,
        # Yahoo asks senders to retry after hours, not minutes.
        hold=timedelta(hours=1),
    ),
    # "451 4.7.500 Server busy. Please try again later from [x.x.x.x]. (S77719)":
    # Exchange Online throttling a sending IP.
    make_rule(
        name="outlook-server-busy",
        group="outlook",
        code=451,
        enhanced="4.7.500",
        pattern=r"server busy",
        window=_10_MIN,
    ),
    # "451 4.7.650 The mail server [x.x.x.x] has been temporarily rate limited due
    # to IP reputation (S775)", and 4.7.651 (S3114), the same for another range.
    *(
        make_rule(
            name=f"outlook-{enhanced}",
            group="outlook",
            code=451,
            enhanced=enhanced,
            pattern=r"rate limited",
            window=_10_MIN,
        )
        for enhanced in ("4.7.650", "4.7.651")
    ),
    # "421 4.7.1 Messages to x@icloud.com deferred due to excessive volume. Try again
    # later - https://support.apple.com/en-us/HT204137"
    make_rule(
        name="icloud-excessive-volume",
        group="icloud",
        code=421,
        enhanced="4.7.1",
        pattern=r"excessive volume|rate limit",
        window=_10_MIN,
    ),
)
