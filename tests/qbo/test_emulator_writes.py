"""Writes over real HTTP: create with requestid and natural key, void, delete, 5010 re-read, batch."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from qbo.batch import BatchOp
from qbo.client import retry_request_id
from qbo.errors import QboDuplicate, QboNotFound, QboStaleObject
from qbo.models import Customer, Invoice, Payment, Tombstone
from qbo.query import select


def rid() -> str:
    return uuid.uuid4().hex


async def _open_invoice(company) -> Invoice:
    found = await company.find("Invoice", [("Balance", ">", Decimal("10"))])
    assert found, "the seed has open invoices"
    return found[0]


async def _new_invoice(company, amount: str = "100.00") -> Invoice:
    customer = (await company.query(select("Customer", max_results=1))).items[0]
    body = {
        "CustomerRef": {"value": customer.Id},
        "Line": [
            {
                "Amount": Decimal(amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
        ],
    }
    inv = await company.create("Invoice", body, rid())
    assert isinstance(inv, Invoice) and inv.TotalAmt == Decimal(amount) and inv.SyncToken == "0"
    return inv


def _payment_body(invoice: Invoice, amount: Decimal, ref: str) -> dict:
    return {
        "CustomerRef": {"value": invoice.CustomerRef.value},
        "TotalAmt": amount,
        "PaymentRefNum": ref,
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice.Id, "TxnType": "Invoice"}]}],
    }


@pytest.mark.parametrize("replay", ["replay", "ignore"])
async def test_payment_is_created_once_whatever_is_retried(connect, emu, replay: str) -> None:
    company = await connect(customers=5, invoices=5)
    await emu.config(company.realm_id, requestid_replay=replay)
    invoice = await _new_invoice(company, "250.00")
    ref, request_id = f"pay-{uuid.uuid4().hex[:8]}", rid()
    body = _payment_body(invoice, Decimal("100.25"), ref)
    first = await company.create_payment(body, request_id)
    assert first.created and isinstance(first.object, Payment) and first.object.TotalAmt == Decimal("100.25")
    again = await company.create_payment(body, request_id)  # a retried activity
    assert not again.created and again.object.Id == first.object.Id
    assert (await company.find_payment_by_ref(ref)).Id == first.object.Id
    assert len(await company.find("Payment", [("PaymentRefNum", "=", ref)])) == 1
    after = await company.read("Invoice", invoice.Id)
    assert after.Balance == Decimal("149.75")


async def test_requestid_replay_returns_the_first_answer(connect) -> None:
    company = await connect(customers=3, invoices=0)
    customer = (await company.query(select("Customer", max_results=1))).items[0]
    request_id = rid()
    body = {
        "CustomerRef": {"value": customer.Id},
        "Line": [
            {
                "Amount": Decimal("12.34"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
        ],
    }
    one = await company.create("Invoice", body, request_id)
    two = await company.create("Invoice", body, request_id)
    assert one.Id == two.Id and await company.count("Invoice") == 1


async def test_void_invoice_and_payment_and_delete(connect) -> None:
    company = await connect(customers=3, invoices=2)
    invoice = await _new_invoice(company, "80.00")
    voided = await company.void("Invoice", invoice.Id, invoice.SyncToken, rid())
    assert isinstance(voided, Invoice) and voided.is_voided and voided.TotalAmt == 0

    target = await _new_invoice(company, "60.00")
    pay = (
        await company.create_payment(_payment_body(target, Decimal("60.00"), f"r-{rid()[:8]}"), rid())
    ).object
    pay_void = await company.void("Payment", pay.Id, pay.SyncToken, rid())
    assert isinstance(pay_void, Payment) and pay_void.TotalAmt == 0
    assert (await company.read("Invoice", target.Id)).Balance == Decimal("60.00")

    doomed = await _new_invoice(company, "5.00")
    tomb = await company.delete("Invoice", doomed.Id, doomed.SyncToken, rid())
    assert isinstance(tomb, Tombstone) and tomb.Id == doomed.Id
    with pytest.raises(QboNotFound):
        await company.delete("Invoice", doomed.Id, doomed.SyncToken, rid())


async def test_duplicate_display_name_is_a_typed_fault(connect) -> None:
    company = await connect(customers=3, invoices=0)
    existing = (await company.query(select("Customer", max_results=1))).items[0]
    with pytest.raises(QboDuplicate) as info:
        await company.create("Customer", {"DisplayName": existing.DisplayName}, rid())
    assert info.value.code == "6240" and not info.value.retryable and info.value.intuit_tid is not None


async def test_stale_object_is_re_read_and_retried_once(connect) -> None:
    company = await connect(customers=3, invoices=0)
    invoice = await _new_invoice(company, "40.00")
    request_ids: list[str] = []

    async def set_memo(current: Invoice, request_id: str) -> Invoice:
        request_ids.append(request_id)
        if len(request_ids) == 1:  # a bookkeeper saves the invoice between our read and our write
            await company.sparse_update(
                "Invoice",
                {
                    "Id": current.Id,
                    "SyncToken": current.SyncToken,
                    "CustomerMemo": {"value": "edited in QBO"},
                },
                rid(),
            )
        body = {"Id": current.Id, "SyncToken": current.SyncToken, "PrivateNote": "posted by platform"}
        return await company.sparse_update("Invoice", body, request_id)

    first_id = rid()
    result = await company.retry_stale_once("Invoice", invoice.Id, set_memo, first_id)
    assert request_ids == [first_id, retry_request_id(first_id)]
    assert result.PrivateNote == "posted by platform" and result.SyncToken == "2"
    assert result.model_dump()["CustomerMemo"]["value"] == "edited in QBO"  # the other change is kept


async def test_stale_object_twice_escapes_as_retryable(connect) -> None:
    company = await connect(customers=3, invoices=0)
    invoice = await _new_invoice(company, "40.00")

    async def always_stale(current: Invoice, request_id: str) -> Invoice:
        return await company.sparse_update(
            "Invoice", {"Id": current.Id, "SyncToken": "999", "PrivateNote": "x"}, request_id
        )

    with pytest.raises(QboStaleObject) as info:
        await company.retry_stale_once("Invoice", invoice.Id, always_stale, rid())
    assert info.value.code == "5010" and info.value.retryable


async def test_batch_with_per_item_faults_matched_by_key(connect) -> None:
    company = await connect(customers=3, invoices=3)
    invoice = await _new_invoice(company, "30.00")
    gone = await _new_invoice(company, "1.00")
    await company.delete("Invoice", gone.Id, gone.SyncToken, rid())
    name = f"Batch O'Brien & Sons {uuid.uuid4().hex[:6]}"
    ops = [
        BatchOp.create("new-customer", "Customer", {"DisplayName": name}),
        BatchOp.sparse_update("stale", "Invoice", {"Id": invoice.Id, "SyncToken": "7", "PrivateNote": "x"}),
        BatchOp.delete("missing", "Invoice", gone.Id, gone.SyncToken),
        BatchOp.select("rows", select("Invoice", [("Id", "=", invoice.Id)])),
        BatchOp.sparse_update(
            "ok-update", "Invoice", {"Id": invoice.Id, "SyncToken": "0", "PrivateNote": "batched"}
        ),
    ]
    results = {r.key: r for r in await company.batch(ops, request_id=rid()[:36])}
    assert list(results) == [op.key for op in ops]
    assert results["new-customer"].ok and isinstance(results["new-customer"].object, Customer)
    assert results["new-customer"].object.DisplayName == name
    assert isinstance(results["stale"].error, QboStaleObject)
    assert isinstance(results["missing"].error, QboNotFound) and results["missing"].error.code == "610"
    assert [i.Id for i in results["rows"].query.items] == [invoice.Id]
    assert results["ok-update"].ok and results["ok-update"].object.PrivateNote == "batched"


async def test_batch_limits_are_enforced_before_sending(connect) -> None:
    company = await connect(customers=1, invoices=0)
    too_many = [BatchOp.select(f"q{i}", select("Customer")) for i in range(31)]
    with pytest.raises(ValueError, match="30"):
        await company.batch(too_many)
    with pytest.raises(ValueError, match="36"):
        await company.batch(too_many[:2], request_id="x" * 37)


async def test_batch_voids_invoice_and_payment(connect) -> None:
    company = await connect(customers=3, invoices=0)
    invoice = await _new_invoice(company, "70.00")
    other = await _new_invoice(company, "20.00")
    pay = (
        await company.create_payment(_payment_body(other, Decimal("20.00"), f"r-{rid()[:8]}"), rid())
    ).object
    results = await company.batch(
        [
            BatchOp.void("inv", "Invoice", invoice.Id, invoice.SyncToken),
            BatchOp.void("pay", "Payment", pay.Id, pay.SyncToken),
        ],
        request_id=rid()[:36],
    )
    by_key = {r.key: r for r in results}
    assert by_key["inv"].ok and by_key["inv"].object.is_voided
    assert by_key["pay"].ok and by_key["pay"].object.TotalAmt == 0
    assert (await company.read("Invoice", other.Id)).Balance == Decimal("20.00")
