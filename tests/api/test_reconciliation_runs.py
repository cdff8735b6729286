"""Reconciliation as a run inside the partner's workflow (PRODUCT.md §6): `POST` → 202 with a run id, the
workflow's next cycle runs it within the realm's QBO budget, `GET` answers the latest run. A planted
mismatch of each kind is found: an invoice balance, a posted payment gone from QBO, a deposited payout
whose Deposit is gone, and a Deposit carrying our memo that no payout records."""

from __future__ import annotations

import uuid
from decimal import Decimal

from rules.deposits import deposit_memo
from tests.api.conftest import assert_error, reconciled

D = Decimal


async def _plant_one_of_each(app, db_pool, pid: str, realm: str, invoice_id: str) -> tuple[str, str]:
    await db_pool.execute("UPDATE invoices SET balance = balance - 1 WHERE id = $1", invoice_id)
    pay = f"pay_{uuid.uuid4().hex[:12]}"
    await db_pool.execute(
        "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status, qbo_payment_id)"
        " VALUES ($1, $2, $3, 1.00, 'USD', 'posted', '987654')", pay, pid, invoice_id)
    payout = f"po_{uuid.uuid4().hex[:12]}"
    await db_pool.execute(
        "INSERT INTO payouts (id, partner_id, gross_amount, fee_amount, net_amount, status, qbo_deposit_id,"
        " qbo_realm_id) VALUES ($1, $2, 5.00, 0, 5.00, 'deposited', '987655', $3)", payout, pid, realm)
    accounts = {a["type"]: a["id"] for a in (await app.state.pool.fetch(
        "SELECT qbo_id AS id, account_type AS type FROM qbo_accounts WHERE partner_id = $1 AND active", pid))}
    body = {"DepositToAccountRef": {"value": accounts["Bank"]}, "PrivateNote": deposit_memo("po_ghost"),
            "Line": [{"Amount": D("7.00"), "DetailType": "DepositLineDetail",
                      "DepositLineDetail": {"AccountRef": {"value": accounts["Income"]}}}]}
    ghost = await app.state.qbo.company(pid).create("Deposit", body, uuid.uuid4().hex)
    return pay, ghost.Id


async def test_a_run_in_the_workflow_finds_each_kind_of_mismatch(app_client, connected, db_pool) -> None:
    pid, realm = connected["pid"], connected["realm"]
    assert_error(await app_client.get(f"/partners/{pid}/qbo/reconciliation"), 404, "not_found")

    clean = await reconciled(app_client, pid)
    assert (clean["invoices_checked"], clean["invoice_mismatches"], clean["deposit_mismatches"],
            clean["payment_mismatches"], clean["unknown_deposits"]) == (3, 0, 0, 0, 0), clean
    assert clean["realm_id"] == realm and 1 <= clean["qbo_calls"] <= 4, clean  # a page each, not a read each

    invoice = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"][0]
    pay, ghost = await _plant_one_of_each(app_client._transport.app, db_pool, pid, realm, invoice["id"])
    found = await reconciled(app_client, pid)
    assert found["run_id"] > clean["run_id"]
    counts = {k: found[k] for k in ("invoice_mismatches", "payment_mismatches", "deposit_mismatches",
                                    "unknown_deposits")}
    assert counts == {"invoice_mismatches": 1, "payment_mismatches": 1, "deposit_mismatches": 1,
                      "unknown_deposits": 1}, found["details"]
    by_kind = {d["kind"]: d for d in found["details"]}
    assert by_kind["invoice"]["id"] == invoice["id"] and by_kind["payment"]["id"] == pay
    assert by_kind["payout"]["qbo_deposit_id"] == "987655" and by_kind["unknown_deposit"]["qbo_deposit_id"] == ghost


async def test_requesting_twice_joins_the_open_run(db_pool, new_partner) -> None:
    """Two clicks, one run (no workflow here: the run stays requested)."""
    from store import reconcile_repo

    pid = await new_partner()
    first = await reconcile_repo.request_run(db_pool, pid)
    assert await reconcile_repo.request_run(db_pool, pid) == first == (first[0], "requested")
    assert await reconcile_repo.start_run(db_pool, pid) == first[0]
    await reconcile_repo.finish_run(db_pool, first[0], {"invoices_checked": 0})
    assert (await reconcile_repo.request_run(db_pool, pid))[0] > first[0]


async def test_not_connected_partner_cannot_request_a_run(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    assert_error(await app_client.post(f"/partners/{pid}/qbo/reconciliation"), 409, "not_connected")
    assert await db_pool.fetchval("SELECT count(*) FROM reconciliation_runs WHERE partner_id = $1", pid) == 0
