"""Wire formats QBO uses: JSON with exact decimals, Pacific timestamps (qbo-reference §2).

Money is `Decimal` end to end. `json` cannot write a Decimal as a bare number, so Decimals are
written as marker strings by the C encoder and the markers are then unquoted with one regex pass.
That keeps serialisation fast (the 1000-invoice query pages are built from stored JSON text).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
CENT = Decimal("0.01")
ZERO = Decimal("0")

# Runs of invisible separators around the digits (json leaves them unescaped with ensure_ascii=False);
# no real text contains these sequences.
_OPEN, _CLOSE = "\u2063\u2064\u2063\u2064", "\u2064\u2063\u2064\u2063"


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return f"{_OPEN}{o}{_CLOSE}"
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    """Compact JSON like QBO sends it, with Decimals as bare numbers (`100.00`, `0`)."""
    text = json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"))
    if _OPEN in text:
        text = text.replace('"' + _OPEN, "").replace(_CLOSE + '"', "")
    return text


def loads(text: str | bytes) -> Any:
    """Parse with Decimal for every non-integer number, so `100.00` stays `100.00`."""
    return json.loads(text, parse_float=Decimal)


def money(value: Any) -> Decimal:
    """A money amount as QBO writes it: two decimals, except zero which QBO writes as `0`
    (fixtures: `"Balance":739.00` but `"Balance":0`, void response `"TotalAmt":0`)."""
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    d = d.quantize(CENT, rounding=ROUND_HALF_UP)
    return ZERO if d == 0 else d


def to_decimal(value: Any) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise ValueError("boolean is not an amount")
    return value if isinstance(value, Decimal) else Decimal(str(value))


# --- time ------------------------------------------------------------------------------------------

class Clock:
    """Wall clock with an adjustable offset (admin config `clock_offset_seconds`), so tests of
    30-day windows and expiries need no waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)


CLOCK = Clock()


def pacific(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, PACIFIC)


def meta_time(ms: int) -> str:
    """MetaData timestamps: Pacific, offset, no fraction: `2020-09-29T05:58:07-07:00` (§2)."""
    return pacific(ms / 1000).isoformat(timespec="seconds")


def envelope_time(ts: float | None = None) -> str:
    """Envelope `time`: Pacific, offset, milliseconds: `2020-09-29T05:58:07.300-07:00` (§2)."""
    return pacific(CLOCK.now() if ts is None else ts).isoformat(timespec="milliseconds")


def utc_event_time(ms: int) -> str:
    """CloudEvents `time`: ISO-8601 UTC with fraction and `Z` (§11.3)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def today_pacific() -> date:
    return pacific(CLOCK.now()).date()


_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_instant(text: str) -> float:
    """A date or date-time literal from a query or `changedSince`, as epoch seconds.

    Without an offset the value is read as Pacific time, the server's zone (§3: unverified how QBO
    reads it; we pick the server zone). `-0700` and `Z` forms are accepted.
    """
    s = text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    s = _OFFSET_NO_COLON.sub(r"\1:\2", s) if "T" in s else s
    if len(s) == 10:
        dt = datetime.fromisoformat(s).replace(tzinfo=PACIFIC)
    else:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=PACIFIC)
    return dt.timestamp()


def add_days(d: str, days: int) -> str:
    return (date.fromisoformat(d) + timedelta(days=days)).isoformat()
