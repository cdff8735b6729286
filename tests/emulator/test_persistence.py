"""File mode: companies, tokens and switches survive a restart of the emulator process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from store.embedded import free_port
from tests.helpers import wait_until


@contextmanager
def emulator(db: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "qbo_emulator", "--port", str(port), "--db", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, "emulator exited"
        try:
            return httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(healthy, timeout=30, what="file-mode emulator")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_state_survives_restart(tmp_path: Path) -> None:
    db = tmp_path / "emulator.sqlite3"
    with emulator(db) as url:
        company = httpx.post(f"{url}/_emulator/companies", json={"name": "Durable", "seed": {
            "customers": 5, "invoices": 10, "payments": 3, "random_seed": 1}}).json()
        realm = company["realm_id"]
        token = httpx.post(f"{url}/_emulator/companies/{realm}/tokens").json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        created = httpx.post(f"{url}/v3/company/{realm}/customer", json={"DisplayName": "Still Here"}, headers=auth)
        assert created.status_code == 200
        httpx.put(f"{url}/_emulator/config", json={"realm_id": realm, "cdc_overflow": "fault"})
    with emulator(db) as url:
        r = httpx.get(f"{url}/v3/company/{realm}/customer/{created.json()['Customer']['Id']}", headers=auth)
        assert r.status_code == 200 and r.json()["Customer"]["DisplayName"] == "Still Here"
        count = httpx.get(f"{url}/v3/company/{realm}/query", params={"query": "SELECT COUNT(*) FROM Invoice"},
                          headers=auth).json()
        assert count["QueryResponse"]["totalCount"] == 10
        cfg = httpx.get(f"{url}/_emulator/config", params={"realm_id": realm}).json()["config"]
        assert cfg["cdc_overflow"] == "fault"
        again = httpx.post(f"{url}/v3/company/{realm}/customer", json={"DisplayName": "Next One"}, headers=auth)
        assert int(again.json()["Customer"]["Id"]) == int(created.json()["Customer"]["Id"]) + 1
