"""Transaction dates (PRODUCT.md §4 "Dates"; qbo-reference §15.4, §15.6).

QBO's TxnDate is a calendar day with no zone. Left out, QBO uses "the current date on the server" (Pacific,
qbo-reference §15.4), i.e. the day the service happened to post, which puts a payment recorded on Dec 31
and posted on Jan 2 into the wrong year. So the day is always computed here, from the instant the customer
paid, in the company's time zone. QBO's API exposes no reliable company time zone (qbo-reference §15.6),
so it is a per-partner preference with QBO's own server zone as the default.

Zone names are checked against a set read once at import, so validation itself touches no file (it runs in
the workflow's update validator). Loading a zone (`local_date`) reads the tz database and is for activities
and the API only.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIME_ZONE = "America/Los_Angeles"  # QBO's server zone (qbo-reference §2, §15.4)

_KNOWN_ZONES = frozenset(available_timezones())


def time_zone_problem(name: str) -> str | None:
    """Why `name` is not a usable IANA time zone, or None when it is."""
    if name in _KNOWN_ZONES:
        return None
    return (f"time_zone: {name[:60]!r} is not an IANA time zone name; use a name such as "
            f"'America/Los_Angeles', 'America/New_York' or 'Europe/London'")


def local_date(instant: datetime, time_zone: str) -> date:
    """The calendar day `instant` falls on in `time_zone`: the TxnDate of something that happened then.

    A naive datetime is refused: which day it is depends on the zone it was meant in."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant.isoformat()} has no UTC offset")
    problem = time_zone_problem(time_zone)
    if problem:
        raise ValueError(problem)
    return instant.astimezone(ZoneInfo(time_zone)).date()
