"""Bad-input campaigns: the API fixtures are the ones `tests/api` uses (imported, not copied); the counts of
every campaign are printed at the end of the run."""

from __future__ import annotations

import json
import os

from tests.api.conftest import api_settings, app_client, connected, emu, new_partner, worker  # noqa: F401
from tests.api.test_webhooks import verifier  # noqa: F401
from tests.campaigns.tally import table


def pytest_terminal_summary(terminalreporter) -> None:
    counts = table()
    if not counts:
        return
    terminalreporter.section("bad-input campaigns")
    for name, row in counts.items():
        rest = ", ".join(f"{k} {v}" for k, v in row.items() if k != "tried")
        terminalreporter.write_line(f"{name}: {row['tried']} hostile inputs tried ({rest})")
    if path := os.environ.get("CAMPAIGN_COUNTS"):
        with open(path, "w") as fh:
            json.dump(counts, fh, indent=2)
