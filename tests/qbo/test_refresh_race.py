"""Two OS processes refreshing the same realm at the same moment, 20 times: never `invalid_grant`, exactly
one refresh per round (single-flight through the PostgreSQL row lock), and the stored refresh token is
always the newest one issued. The emulator's grace period is 0, so a race would show as `invalid_grant`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _spawn(partner: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.qbo.refresher import main; main()", partner],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


async def _ask_all(procs: list[subprocess.Popen], command: str) -> list[dict]:
    for proc in procs:  # written back to back: both processes wake at the same moment
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    return await asyncio.gather(*(_answer(p) for p in procs))


async def _answer(proc: subprocess.Popen) -> dict:
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
    assert line, f"refresher process died (exit {proc.poll()})"
    return json.loads(line)


async def test_two_processes_refresh_single_flight(
    connect, emu, api, db_pool, database_url, emulator_url
) -> None:
    company = await connect(customers=1, invoices=0)
    partner, realm = company.partner_id, company.realm_id
    await emu.config(realm, refresh_grace_seconds=0)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "QBO_EMULATOR_URL": emulator_url,
        "PYTHONPATH": str(ROOT),
    }
    procs = [_spawn(partner, env), _spawn(partner, env)]
    try:
        assert [await _answer(p) for p in procs] == [{"started": True}] * 2
        for round_no in range(1, 21):
            ready = await _ask_all(procs, "prepare")
            assert ready[0] == ready[1], ready  # both saw the same version: both will try to refresh
            results = await _ask_all(procs, "go")
            assert all(r["ok"] for r in results), f"round {round_no}: {results}"
            assert results[0]["version"] == results[1]["version"]

            issued = [t for t in await emu.issued_tokens(realm) if t["kind"] == "refresh"]
            assert len(issued) == 1 + round_no, f"round {round_no}: expected exactly one refresh"
            newest = max(issued, key=lambda t: t["issued_ms"])
            row = await db_pool.fetchrow(
                "SELECT refresh_token_enc FROM qbo_connections WHERE partner_id = $1", partner
            )
            stored = api.cipher.decrypt(bytes(row["refresh_token_enc"]), f"{partner}:refresh")
            assert stored == newest["token"], f"round {round_no}: stored refresh token is not the newest"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.stdin.write("quit\n")
                proc.stdin.flush()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
