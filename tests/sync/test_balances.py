"""The platform balance of a QBO invoice is QBO's balance minus the platform payments not yet in QBO, in
whatever order the sync, the posting and new platform payments happen (store/balances.py). Real
PostgreSQL, the emulator over HTTP, the real sync and posting activities; only a worker death is faked."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.posting import PostingActivities
from rules.posting import payment_ref_num
from store import platform_repo
from tests.helpers import eventually
from tests.posting.test_crash_and_deposits import Killed, _KilledAfter
from tests.sync.conftest import Synced
from workflows.models import PostingInput

D = Decimal


async def _post(s: Synced, api: Any = None):
    acts = PostingActivities(s.pool, api or s.acts.qbo)
    return await ActivityEnvironment().run(acts.post_payments, PostingInput(partner_id=s.partner_id))


async def _new_invoice(s: Synced, customer: str, amount: str) -> tuple[str, str]:
    """An invoice a bookkeeper created in QBO, synced into the platform → (QBO id, platform id)."""
    qbo_id = s.books.invoice(customer, amount)["Id"]
    await s.cycle()
    return qbo_id, (await s.invoice(qbo_id))["id"]


async def _balance(s: Synced, qbo_id: str) -> tuple[Decimal, str]:
    row = await s.invoice(qbo_id)
    return row["balance"], row["status"]


async def _qbo_balance(s: Synced, qbo_id: str) -> Decimal:
    return D(str(s.books.read("Invoice", qbo_id)["Balance"]))


async def test_posted_before_the_sync_saw_it_keeps_the_balance(synced: Synced) -> None:
    """The usual order: the posting records the payment before any sync has read QBO's new balance. The
    stored QBO balance is still the old 100; recomputing from it alone would show 100."""
    qbo_id, iid = await _new_invoice(synced, "1", "100.00")
    await platform_repo.create_payment(synced.pool, synced.partner_id, iid, D("40.00"), None)
    assert await _balance(synced, qbo_id) == (D("60.00"), "partially_paid")
    assert (await _post(synced)).posted == 1
    assert await _balance(synced, qbo_id) == (D("60.00"), "partially_paid")
    assert (await synced.invoice(qbo_id))["qbo_balance"] == D("60.00") == await _qbo_balance(synced, qbo_id)
    await synced.cycle()  # the sync now reads the Payment's effect in QBO: nothing moves
    assert await _balance(synced, qbo_id) == (D("60.00"), "partially_paid")


async def test_qbo_accepted_then_the_activity_died_is_repaired_by_the_next_cycle(synced: Synced) -> None:
    """100 total, a 40 payment QBO accepted while the worker died before recording it: QBO says 60 and
    the platform still holds the 40 as pending. The next cycle must end at 60, not 20."""
    qbo_id, iid = await _new_invoice(synced, "2", "100.00")
    pay = await platform_repo.create_payment(synced.pool, synced.partner_id, iid, D("40.00"), None)
    with pytest.raises(Killed):
        await _post(synced, _KilledAfter(synced.acts.qbo, "batch"))
    row = await synced.pool.fetchrow("SELECT status, attempts FROM payments WHERE id = $1", pay["id"])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert await _qbo_balance(synced, qbo_id) == D("60.00")
    # the next cycle: fetch + apply (QBO's 60 already includes the pending 40), then the posting step
    await synced.cycle()
    summary = await _post(synced)
    assert (summary.posted, summary.needs_attention) == (1, 0)
    assert len(await synced.acts.qbo.company(synced.partner_id).find(
        "Payment", [("PaymentRefNum", "=", payment_ref_num(pay["id"]))])) == 1
    assert await _balance(synced, qbo_id) == (D("60.00"), "partially_paid")
    await synced.cycle()
    assert await _balance(synced, qbo_id) == (D("60.00"), "partially_paid")


async def test_payment_recorded_while_apply_holds_its_snapshot(synced: Synced) -> None:
    """A platform payment that commits between apply's snapshot read and its write must not be
    overwritten: the bookkeeper took 10 in QBO (QBO 90), the platform takes 25 meanwhile → 65."""
    qbo_id, iid = await _new_invoice(synced, "3", "100.00")
    synced.books.pay("3", "10.00", ("Invoice", qbo_id, "10.00"))
    fetch = await synced.fetch()
    assert fetch.staged >= 1
    tasks: list[asyncio.Task] = []

    async def record_payment_now(entity: str) -> None:
        if entity != "Invoice" or tasks:
            return
        task = asyncio.create_task(
            platform_repo.create_payment(synced.pool, synced.partner_id, iid, D("25.00"), None))
        tasks.append(task)

        async def committed_or_waiting() -> bool:
            return task.done() or await synced.pool.fetchval(
                "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = current_database() AND a.query LIKE '%FROM invoices%'")

        await eventually(committed_or_waiting, what="the payment to commit or to wait for the invoice lock")

    synced.acts.after_snapshot = record_payment_now
    await synced.apply(fetch.sync_run_id)
    payment = await tasks[0]
    assert payment["status"] == "pending"
    assert await _qbo_balance(synced, qbo_id) == D("90.00")
    assert await _balance(synced, qbo_id) == (D("65.00"), "partially_paid")
    assert (await _post(synced)).posted == 1
    assert await _balance(synced, qbo_id) == (D("65.00"), "partially_paid")
    assert await _qbo_balance(synced, qbo_id) == D("65.00")
