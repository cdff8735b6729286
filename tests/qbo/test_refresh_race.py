"""Two OS processes refreshing the same realm at the same moment, 20 times: never `invalid_grant`, exactly
one refresh per round (single-flight through the PostgreSQL row lock), and the stored refresh token is
always the newest one issued. The emulator's grace period is 0, so a race would show as `invalid_grant`.

"At the same moment" is made certain, not likely: in each round the test itself holds the connection row
lock while both processes start their refresh, and lets go only once PostgreSQL shows both of them waiting
for that lock. A refresh that answers while the test holds the row never took the lock."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import eventually

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


def _tell_all(procs: list[subprocess.Popen], command: str) -> list[asyncio.Task]:
    for proc in procs:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    return [asyncio.create_task(_answer(p)) for p in procs]


async def _ask_all(procs: list[subprocess.Popen], command: str) -> list[dict]:
    return await asyncio.gather(*_tell_all(procs, command))


async def _waiting_for_the_row_lock(db_pool) -> int:
    """Backends of this database blocked on a lock while running the refresh's `SELECT … FOR UPDATE`."""
    return await db_pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE '%FROM qbo_connections WHERE partner_id = $1 FOR UPDATE%'"
    )


async def _go_together(procs: list[subprocess.Popen], db_pool, partner: str) -> list[dict]:
    """Both processes refresh at once: they queue on the row lock the test holds, then it lets go."""
    async with db_pool.acquire() as holder:
        tx = holder.transaction()
        await tx.start()
        try:
            await holder.execute("SELECT 1 FROM qbo_connections WHERE partner_id = $1 FOR UPDATE", partner)
            answers = _tell_all(procs, "go")

            async def both_blocked() -> str | None:
                if any(a.done() for a in answers):
                    return "answered"
                return "blocked" if await _waiting_for_the_row_lock(db_pool) == len(procs) else None

            seen = await eventually(both_blocked, what="both refreshers to wait on the row lock")
            assert seen == "blocked", (
                f"a refresh answered while the test held the row lock: {[a.result() for a in answers if a.done()]}"
            )
        finally:
            await tx.rollback()
    return await asyncio.gather(*answers)


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
            results = await _go_together(procs, db_pool, partner)
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
