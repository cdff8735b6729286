"""Fixtures for emulator tests: one company (unique realm) per test, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulator.support import Api


@pytest.fixture
def admin(emulator_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator_url, timeout=30) as client:
        yield client


def make_company(admin: httpx.Client, emulator_url: str, seed: dict[str, Any] | None = None,
                 name: str = "Test Co") -> Api:
    r = admin.post("/_emulator/companies", json={"name": name, "seed": seed or {}})
    assert r.status_code == 200, r.text
    body = r.json()
    token = admin.post(f"/_emulator/companies/{body['realm_id']}/tokens").json()
    return Api(emulator_url, body["realm_id"], token, body)


@pytest.fixture
def company(admin: httpx.Client, emulator_url: str) -> Iterator[Api]:
    """An empty company (chart of accounts only) and a valid access token."""
    api = make_company(admin, emulator_url)
    yield api
    admin.post("/_emulator/config/reset", params={"realm_id": api.realm})
    admin.delete("/_emulator/faults", params={"realm_id": api.realm})
    api.close()


@pytest.fixture
def seeded(admin: httpx.Client, emulator_url: str) -> Iterator[Api]:
    api = make_company(admin, emulator_url, {"customers": 30, "invoices": 120, "payments": 60, "random_seed": 7})
    yield api
    api.close()
