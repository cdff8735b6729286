"""The metrics tests reuse the API tests' real parts: the app in-process, the session's PostgreSQL, Temporal
dev server and QBO emulator, a partner connected through the real OAuth flow."""

from tests.api.conftest import (  # noqa: F401  (fixtures)
    api_settings,
    app_client,
    connected,
    emu,
    new_partner,
    worker,
)
