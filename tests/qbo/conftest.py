"""Fixtures for the QBO client tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def db_settings(database_url: str):
    """Settings for tests that need PostgreSQL but no emulator."""
    from settings import load_settings

    return load_settings({**os.environ, "DATABASE_URL": database_url})
