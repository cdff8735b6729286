"""A thin client for the emulator's admin endpoints (PRODUCT §7), for the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class EmulatorAdmin:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=120)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = await self._http.request(method, path, **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    async def create_company(
        self,
        *,
        customers: int = 5,
        invoices: int = 5,
        payments: int = 0,
        random_seed: int = 7,
        name: str = "",
        home_currency: str = "USD",
        multicurrency: bool = False,
    ) -> str:
        body = {
            "name": name or f"Test Co {uuid.uuid4().hex[:6]}",
            "home_currency": home_currency,
            "multicurrency": multicurrency,
            "seed": {
                "customers": customers,
                "invoices": invoices,
                "payments": payments,
                "random_seed": random_seed,
            },
        }
        return str((await self._json("POST", "/_emulator/companies", json=body))["realm_id"])

    async def currency_prefs(self, realm: str, *, multicurrency: bool = True) -> dict[str, Any]:
        """A person turns multicurrency on in QBO's settings (a Preferences Update, reported by webhook)."""
        return await self._json("PUT", f"/_emulator/companies/{realm}/preferences",
                                json={"multicurrency": multicurrency})

    async def tokens(self, realm: str) -> dict[str, Any]:
        return await self._json("POST", f"/_emulator/companies/{realm}/tokens")

    async def requests(self, realm: str) -> dict[str, Any]:
        return await self._json("GET", "/_emulator/requests", params={"realm_id": realm})

    async def reset_requests(self, realm: str | None = None) -> None:
        """Zero the request counters and throttle windows of one realm (all realms without one)."""
        await self._json("POST", "/_emulator/requests/reset", params={"realm_id": realm} if realm else None)

    async def faults(self, realm: str, **spec: Any) -> None:
        await self._json("PUT", "/_emulator/faults", json={"realm_id": realm, **spec})

    async def config(self, realm: str | None = None, **changes: Any) -> None:
        body = {**changes, **({"realm_id": realm} if realm else {})}
        await self._json("PUT", "/_emulator/config", json=body)

    async def revoke(self, realm: str) -> None:
        await self._json("POST", f"/_emulator/companies/{realm}/revoke")

    async def expire_access_tokens(self, realm: str) -> None:
        await self._json("POST", f"/_emulator/companies/{realm}/expire-access-tokens")

    async def issued_tokens(self, realm: str) -> list[dict[str, Any]]:
        data = await self._json("GET", f"/_emulator/companies/{realm}/issued-tokens")
        return data["tokens"] if isinstance(data, dict) and "tokens" in data else data
