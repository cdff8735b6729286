"""`python -m starter` as an operator runs it: a separate process reading PostgreSQL and QBO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "starter", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


async def test_list_and_reconcile(connect, database_url, emulator_url, db_pool):
    company = await connect(customers=3, invoices=4, random_seed=5)
    env = {**os.environ, "DATABASE_URL": database_url, "QBO_EMULATOR_URL": emulator_url}
    listed = _cli("--json", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert company.partner_id in {row["id"] for row in json.loads(listed.stdout)}
    # Plant one platform invoice that disagrees with QBO: reconciliation reads QBO live and reports it.
    invoice = (await company.find("Invoice", [("Balance", ">", 0)]))[0]
    await db_pool.execute(
        "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, qbo_sync_token, amount, balance,"
        " currency, status) VALUES ($1, $2, 'qbo', $3, $4, $5, $6, 0, 'USD', 'paid')",
        f"inv-{invoice.Id}-{company.partner_id}", company.partner_id, company.realm_id, invoice.Id,
        int(invoice.SyncToken), invoice.TotalAmt)
    result = _cli("--json", "reconcile", company.partner_id, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["invoices_checked"] == 1 and report["deposit_mismatches"] == 0
    assert report["invoice_mismatches"] == 1, report


async def test_revoke_clears_a_connection_whose_workflow_is_gone(connect, database_url, emulator_url, db_pool,
                                                                  temporal_env, emu):
    """Issue 14 item 7: `python -m starter revoke PID` revokes the grant at Intuit and clears the tokens of a
    connection with no workflow; a second run is harmless; an unknown partner is refused (exit 2)."""
    company = await connect(customers=0, invoices=0)
    env = {**os.environ, "DATABASE_URL": database_url, "QBO_EMULATOR_URL": emulator_url,
           "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host}
    result = _cli("--json", "revoke", company.partner_id, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["revoked"] is True
    row = await db_pool.fetchrow("SELECT state, refresh_token_enc FROM qbo_connections WHERE partner_id = $1",
                                 company.partner_id)
    assert (row["state"], row["refresh_token_enc"]) == ("disconnected", None)
    assert all(t["revoked"] for t in await emu.issued_tokens(company.realm_id))
    again = _cli("--json", "revoke", company.partner_id, env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["revoked"] is False, again.stderr
    unknown = _cli("revoke", "p_nobody", env=env)
    assert unknown.returncode == 2 and "no QuickBooks connection" in unknown.stderr
