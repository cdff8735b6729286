"""The QBO client's fixtures (emulator admin, QboApi, connected companies), shared with these tests."""

from tests.qbo.conftest import api, connect, emu  # noqa: F401
