"""A session-wide count of the hostile inputs each campaign tried, and how each was answered.

`record(campaign, outcome)` from the tests; the conftest prints the table at the end of the run (and writes
it as JSON next to the test log when `CAMPAIGN_COUNTS` names a file), so the README can cite the figures.
"""

from __future__ import annotations

from collections import Counter, defaultdict

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)


def record(campaign: str, outcome: str) -> None:
    COUNTS[campaign][outcome] += 1


def table() -> dict[str, dict[str, int]]:
    return {name: {"tried": sum(c.values()), **dict(sorted(c.items()))} for name, c in sorted(COUNTS.items())}


def merge(counts: dict[str, dict[str, int]]) -> None:
    """Add a `table()` from another process (a pytest-xdist worker) to this one's counts."""
    for name, row in counts.items():
        for outcome, n in row.items():
            if outcome != "tried":
                COUNTS[name][outcome] += n
