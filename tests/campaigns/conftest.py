"""Bad-input campaigns: the API fixtures are the ones `tests/api` uses (imported, not copied); the counts of
every campaign are printed at the end of the run (by tests/conftest.py, which also gathers them from
pytest-xdist's workers)."""

from __future__ import annotations

from tests.api.conftest import api_settings, app_client, connected, emu, new_partner, worker  # noqa: F401
from tests.api.test_webhooks import verifier  # noqa: F401
