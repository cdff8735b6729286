"""Each conflict ends in needs_attention, with its reason in the sync log, and nothing created in QBO."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from qbo.batch import BatchItemResult
from qbo.errors import QboDeposited, QboStaleObject, QboValidationError
from rules.posting import payment_ref_num
from tests.posting.conftest import World, no_mismatches

D = Decimal


async def _parked(world: World, pid: str, words: str) -> None:
    row = await world.payment(pid)
    assert row["status"] == "needs_attention", dict(row)
    assert words in row["attention_reason"], row["attention_reason"]
    logged = await world.pool.fetchval(
        "SELECT reason FROM sync_log WHERE partner_id = $1 AND kind = 'needs_attention' AND platform_id = $2",
        world.partner, pid)
    assert logged == row["attention_reason"]
    assert await world.qbo_payments(payment_ref_num(pid)) == []


async def _post_without_writes(world: World) -> None:
    before = (await world.ops()).get("batch", 0)
    summary = await world.post()
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 1, 0)
    assert (await world.ops()).get("batch", 0) == before  # decided before any write


async def test_invoice_deleted_in_qbo(world: World) -> None:
    inv = await world.new_invoice("80.00")
    pid = await world.pay(inv, "10.00")
    live = await world.qbo_invoice(inv)
    await world.company.delete("Invoice", live.Id, live.SyncToken, uuid.uuid4().hex)
    await _post_without_writes(world)
    await _parked(world, pid, "deleted")
    await world.resync_invoice(inv)
    await no_mismatches(world)


async def _bookkeeper_pays(world: World, inv: str, amount: str) -> None:
    live = await world.qbo_invoice(inv)
    body = {"CustomerRef": {"value": live.CustomerRef.value}, "TotalAmt": D(amount),
            "Line": [{"Amount": D(amount), "LinkedTxn": [{"TxnId": live.Id, "TxnType": "Invoice"}]}]}
    await world.company.create("Payment", body, uuid.uuid4().hex)


async def test_invoice_already_paid_in_qbo(world: World) -> None:
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "60.00")
    await _bookkeeper_pays(world, inv, "60.00")
    await _post_without_writes(world)
    await _parked(world, pid, "already paid")
    await world.resync_invoice(inv)
    await no_mismatches(world)


async def test_amount_larger_than_qbo_balance(world: World) -> None:
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "50.00")
    await _bookkeeper_pays(world, inv, "20.00")  # QBO balance 40 < 50
    await _post_without_writes(world)
    await _parked(world, pid, "larger than the open QBO balance")
    assert (await world.qbo_invoice(inv)).Balance == D("40.00")
    await world.resync_invoice(inv)
    await no_mismatches(world)


async def test_customer_inactive_in_qbo(world: World) -> None:
    """QBO refuses to inactivate a customer with an open balance (6000 "Delete List Has Balance Error"), and a
    customer's balance is its open invoices minus its unapplied payments: a bookkeeper who records an
    unapplied Payment for the whole balance can then inactivate the customer while the invoice stays open.
    The live read must include inactive customers to tell "inactive" from "not found"."""
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    live = await world.qbo_invoice(inv)
    cust = await world.company.read("Customer", live.CustomerRef.value)
    with pytest.raises(QboValidationError) as refused:
        await world.company.sparse_update(
            "Customer", {"Id": cust.Id, "SyncToken": cust.SyncToken, "Active": False}, uuid.uuid4().hex)
    assert refused.value.code == "6000"
    await world.company.create("Payment", {"CustomerRef": {"value": cust.Id}, "TotalAmt": str(cust.Balance)},
                               uuid.uuid4().hex)
    cust = await world.company.read("Customer", cust.Id)
    assert cust.Balance == 0
    await world.company.sparse_update(
        "Customer", {"Id": cust.Id, "SyncToken": cust.SyncToken, "Active": False}, uuid.uuid4().hex)
    assert (await world.qbo_invoice(inv)).Balance == D("60.00")
    before = (await world.ops()).get("batch", 0)
    summary = await world.post()
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 1, 0)
    assert (await world.ops()).get("batch", 0) == before
    await _parked(world, pid, f"customer {cust.Id} is inactive")
    assert (await world.payment(pid))["attention_code"] == "customer_inactive"


async def test_unknown_payment_account(world: World) -> None:
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    await world.set_prefs(payment_account_id="987654")
    summary = await world.post()
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 1, 0)
    await _parked(world, pid, "2500")
    assert (await world.qbo_invoice(inv)).Balance == D("60.00")
    await no_mismatches(world)


class _Faulting:
    """The real client, except that batch items get the fault QBO would answer (6540 cannot be provoked by a
    create in the emulator; the per-item path is what is under test)."""

    def __init__(self, api: Any, error: Exception) -> None:
        self.api, self.error = api, error

    def company(self, partner_id: str) -> Any:
        real = self.api.company(partner_id)
        error = self.error

        class Company:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            async def batch(self, ops, request_id=None):
                return [BatchItemResult(op.key, op.entity, error=error) for op in ops]

        return Company()


async def test_6540_is_parked_with_qbos_message(world: World) -> None:
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    fault = QboDeposited("Deposited Transaction cannot be changed", status=400, code="6540",
                         detail="This transaction has been deposited.")
    summary = await world.post(_Faulting(world.api, fault))
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 1, 0)
    await _parked(world, pid, "6540")
    assert "This transaction has been deposited." in (await world.payment(pid))["attention_reason"]
    await no_mismatches(world)


def _stale_error() -> QboStaleObject:
    return QboStaleObject("Stale Object Error", status=400, code="5010", detail="stale")


class _Stale:
    """The real client, except that the first `batches` batches answer 5010 for every item (the invoice changed
    meanwhile) and the first `creates` single Payment creates (the retry after the re-read) raise 5010 too.
    Counts the invoice re-reads and the single creates."""

    def __init__(self, api: Any, *, batches: int = 1, creates: int = 0) -> None:
        self.api, self.stale_batches, self.stale_creates = api, batches, creates
        self.rereads = self.single_creates = 0

    def company(self, partner_id: str) -> Any:
        real, outer = self.api.company(partner_id), self

        class Company:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            async def batch(self, ops, request_id=None):
                if outer.stale_batches:
                    outer.stale_batches -= 1
                    return [BatchItemResult(op.key, op.entity, error=_stale_error()) for op in ops]
                return await real.batch(ops, request_id=request_id)

            async def read(self, entity, id_):
                outer.rereads += entity == "Invoice"
                return await real.read(entity, id_)

            async def create_payment(self, body, request_id):
                outer.single_creates += 1
                if outer.stale_creates:
                    outer.stale_creates -= 1
                    raise _stale_error()
                return await real.create_payment(body, request_id)

        return Company()


async def test_5010_rereads_and_retries_once(world: World) -> None:
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    stale = _Stale(world.api, batches=1)
    summary = await world.post(stale)
    assert (summary.posted, summary.needs_attention, summary.remaining) == (1, 0, 0)
    assert (stale.rereads, stale.single_creates) == (1, 1)
    assert len(await world.qbo_payments(payment_ref_num(pid))) == 1
    assert (await world.qbo_invoice(inv)).Balance == D("50.00")
    await no_mismatches(world)


async def test_a_second_5010_needs_attention_without_a_third_try(world: World) -> None:
    """5010 on the batch, re-read, 5010 again on the single retry: the payment needs attention; there is no
    third attempt (the retry after it would have succeeded)."""
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    stale = _Stale(world.api, batches=1, creates=1)
    summary = await world.post(stale)
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 1, 0)
    assert (stale.rereads, stale.single_creates) == (1, 1)
    await _parked(world, pid, "stale object (5010): changed in QBO meanwhile; still stale after a re-read and retry")
    assert (await world.payment(pid))["attention_code"] == "qbo_fault"  # waits for a person
    assert (await world.qbo_invoice(inv)).Balance == D("60.00")
