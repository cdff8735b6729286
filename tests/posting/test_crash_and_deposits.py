"""Crash safety (QBO accepted, PostgreSQL never heard) for payments and deposits; deposits with fees."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from qbo.models import Deposit
from rules.deposits import deposit_memo
from rules.posting import payment_ref_num
from rules.preferences import FEE_ACCOUNT_NAME
from services.void import void_invoice_in_qbo
from tests.posting.conftest import World, no_mismatches

D = Decimal


class Killed(Exception):
    """The worker died: the QBO call went through, the activity never recorded it."""


class _KilledAfter:
    """The real client; `method` runs against QBO and then the "process dies" before returning."""

    def __init__(self, api: Any, method: str) -> None:
        self.api, self.method = api, method

    def company(self, partner_id: str) -> Any:
        real, method = self.api.company(partner_id), self.method

        class Company:
            def __getattr__(self, name: str) -> Any:
                attr = getattr(real, name)
                if name != method:
                    return attr

                async def call(*args: Any, **kw: Any) -> Any:
                    await attr(*args, **kw)
                    raise Killed(name)

                return call

        return Company()


@pytest.mark.parametrize("replay", ["replay", "ignore"])
async def test_payment_killed_after_qbo_accepted_is_posted_once(world: World, replay: str) -> None:
    await world.emu.config(world.realm, requestid_replay=replay)  # "ignore": QBO fails to dedupe
    inv = await world.new_invoice("90.00")
    pids = [await world.pay(inv, "20.00"), await world.pay(inv, "30.00")]
    with pytest.raises(Killed):
        await world.post(_KilledAfter(world.api, "batch"))
    rows = [await world.payment(p) for p in pids]
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 1), ("pending", 1)]
    summary = await world.post()  # the retry
    assert (summary.posted, summary.needs_attention, summary.remaining) == (2, 0, 0)
    for pid in pids:
        found = await world.qbo_payments(payment_ref_num(pid))
        assert len(found) == 1 and (await world.payment(pid))["qbo_payment_id"] == found[0].Id
    assert (await world.qbo_invoice(inv)).Balance == D("40.00")
    await no_mismatches(world)


async def _deposit_world(world: World, fee: str) -> tuple[str, list[str]]:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    inv1, inv2 = await world.new_invoice("100.00"), await world.new_invoice("250.00")
    pids = [await world.pay(inv1, "100.00"), await world.pay(inv2, "150.25")]
    return await world.payout(pids, fee), pids


async def test_deposit_with_fee_line_equals_net_payout(world: World) -> None:
    payout, pids = await _deposit_world(world, "7.53")
    waiting = await world.deposit()  # payments not posted yet: the payout waits
    assert (waiting.deposited, waiting.waiting) == (0, 1)
    assert (await world.payout_row(payout))["status"] == "pending"
    assert (await world.post()).posted == 2
    summary = await world.deposit()
    assert (summary.deposited, summary.waiting, summary.needs_attention) == (1, 0, 0)
    row = await world.payout_row(payout)
    assert row["status"] == "deposited" and row["net_amount"] == D("242.72")
    dep = await world.company.read("Deposit", row["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D("242.72") and dep.PrivateNote == deposit_memo(payout)
    fee_id = (await world.prefs())["fee_account_id"]
    fee_account = await world.company.read("Account", fee_id)
    assert fee_account.Name == FEE_ACCOUNT_NAME
    fee_lines = [ln for ln in dep.Line if ln.DetailType == "DepositLineDetail"]
    assert [ln.Amount for ln in fee_lines] == [D("-7.53")]
    linked = {lt.TxnId for ln in dep.Line for lt in ln.LinkedTxn if lt.TxnType == "Payment"}
    assert linked == {(await world.payment(p))["qbo_payment_id"] for p in pids}
    await no_mismatches(world)


async def test_deposits_off_means_no_deposit(world: World) -> None:
    inv = await world.new_invoice("100.00")
    pid = await world.pay(inv, "100.00")
    payout = await world.payout([pid], "3.00")
    assert (await world.post()).posted == 1
    summary = await world.deposit()
    assert summary.deposited == 0
    assert (await world.payout_row(payout))["status"] == "not_synced"
    assert await world.company.find("Deposit", [("PrivateNote", "=", deposit_memo(payout))]) == []
    assert (await world.ops()).get("create", 0) == 1  # only the test's own invoice


@pytest.mark.parametrize("replay", ["replay", "ignore"])
async def test_deposit_killed_after_qbo_accepted_is_created_once(world: World, replay: str) -> None:
    payout, _ = await _deposit_world(world, "0.00")
    await world.emu.config(world.realm, requestid_replay=replay)
    assert (await world.post()).posted == 2
    with pytest.raises(Killed):
        await world.deposit(_KilledAfter(world.api, "create"))
    assert (await world.payout_row(payout))["status"] == "pending"
    summary = await world.deposit()
    assert summary.deposited == 1
    found = await world.company.find("Deposit", [("PrivateNote", "=", deposit_memo(payout))])
    row = await world.payout_row(payout)
    assert [d.Id for d in found] == [row["qbo_deposit_id"]] and found[0].TotalAmt == row["net_amount"]
    await no_mismatches(world)


async def test_reconciliation_reports_a_mismatch_planted_in_qbo(world: World) -> None:
    payout, pids = await _deposit_world(world, "1.00")
    await world.post()
    await world.deposit()
    await no_mismatches(world)
    inv = (await world.payment(pids[1]))["invoice_id"]
    live = await world.qbo_invoice(inv)
    body = {"CustomerRef": {"value": live.CustomerRef.value}, "TotalAmt": D("5.00"),  # a bookkeeper's payment
            "Line": [{"Amount": D("5.00"), "LinkedTxn": [{"TxnId": live.Id, "TxnType": "Invoice"}]}]}
    await world.company.create("Payment", body, "planted-" + live.Id)
    dep_id = (await world.payout_row(payout))["qbo_deposit_id"]
    dep = await world.company.read("Deposit", dep_id)
    await world.company.delete("Deposit", dep.Id, dep.SyncToken, "planted-dep-" + dep.Id)
    report = await world.reconcile()
    assert report["invoice_mismatches"] == 1 and report["deposit_mismatches"] == 1, report
    assert {d["id"] for d in report["details"]} == {inv, payout}


async def test_void_in_platform_voids_qbo_invoice_without_payments(world: World) -> None:
    inv = await world.new_invoice("75.00")
    result = await void_invoice_in_qbo(world.pool, world.api, world.partner, inv)
    assert result.voided and result.action == "void_in_qbo"
    assert (await world.qbo_invoice(inv)).is_voided
    row = await world.pool.fetchrow("SELECT status, balance FROM invoices WHERE id = $1", inv)
    assert (row["status"], row["balance"]) == ("void", D("0.00"))
    paid = await world.new_invoice("75.00")
    await world.pay(paid, "5.00")
    refused = await void_invoice_in_qbo(world.pool, world.api, world.partner, paid)
    assert not refused.voided and refused.action == "reject" and "payments" in refused.reason
    assert not (await world.qbo_invoice(paid)).is_voided
