"""Bookkeeping QBO does (qbo-reference §5, §7): SyncToken/5010, sparse vs full update, DocNumber
and 6140, Balance/LinkedTxn through payments and credit memos, Undeposited Funds, deposits with
linked and negative lines, 6540, void shapes, 6240, 610, requestid replay."""

from __future__ import annotations

from decimal import Decimal

import httpx

from tests.emulator.support import Api, parse


def test_synctoken_and_stale_object(company: Api) -> None:
    c = company.customer("Sync Person", PrimaryPhone={"FreeFormNumber": "1"})
    v1 = company.update("Customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "hi"})
    assert v1["SyncToken"] == "1" and v1["PrimaryPhone"] == {"FreeFormNumber": "1"}  # sparse keeps the rest
    stale = company.post("/customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "again"})
    err = company.fault(stale)
    assert err["code"] == "5010" and err["Message"] == "Stale Object Error"
    full = company.update("Customer", {"Id": c["Id"], "SyncToken": "1", "DisplayName": "Sync Person"})
    assert full["SyncToken"] == "2" and "PrimaryPhone" not in full and "Notes" not in full  # full update clears


def test_docnumber_auto_and_duplicates(company: Api) -> None:
    c = company.customer("Doc Person")
    a, b = company.invoice(c["Id"]), company.invoice(c["Id"])
    assert int(b["DocNumber"]) == int(a["DocNumber"]) + 1
    dup = company.post("/invoice", {"CustomerRef": {"value": c["Id"]}, "DocNumber": a["DocNumber"], "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    err = company.fault(dup)
    assert err["code"] == "6140" and f"TxnId={a['Id']}" in err["Detail"]
    allowed = company.post("/invoice", {"CustomerRef": {"value": c["Id"]}, "DocNumber": a["DocNumber"], "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]}, include="allowduplicatedocnum")
    assert allowed.status_code == 200


def test_invoice_lines_tax_and_subtotal(company: Api) -> None:
    c = company.customer("Tax Person")
    inv = company.create("Invoice", {"CustomerRef": {"value": c["Id"]}, "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
                                     "TxnDate": "2026-01-10", "SalesTermRef": {"value": "2"}, "Line": [
        {"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"Qty": 3, "UnitPrice": "19.99",
                                                                      "TaxCodeRef": {"value": "TAX"}}},
        {"Amount": "40.00", "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    assert [ln.get("Id") for ln in inv["Line"]] == ["1", "2", None]
    assert inv["Line"][0]["Amount"] == Decimal("59.97") and inv["Line"][2]["DetailType"] == "SubTotalLineDetail"
    assert inv["Line"][2]["Amount"] == Decimal("99.97")
    assert inv["TxnTaxDetail"]["TotalTax"] == Decimal("4.80")  # 8 % of 59.97, rounded half-up
    assert inv["TotalAmt"] == Decimal("104.77") == inv["Balance"]
    assert inv["DueDate"] == "2026-01-25" and inv["SalesTermRef"]["name"] == "Net 15"


def test_balance_and_linked_txn_through_payments(company: Api) -> None:
    c = company.customer("Payer")
    inv = company.invoice(c["Id"], "100.00")
    p1 = company.pay(c["Id"], "30.00", ("Invoice", inv["Id"], "30.00"))
    assert p1["DepositToAccountRef"] == {"value": company.account_id("UndepositedFunds")}  # default (§5.3)
    after1 = company.read("Invoice", inv["Id"])
    assert after1["Balance"] == Decimal("70.00") and after1["LinkedTxn"] == [{"TxnId": p1["Id"], "TxnType": "Payment"}]
    assert after1["SyncToken"] == "1"
    assert company.read("Customer", c["Id"])["Balance"] == Decimal("70.00")
    over = company.post("/payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 80, "Line": [
        {"Amount": 80, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert company.fault(over)["code"] == "6000"  # no overpayment of an invoice
    p2 = company.pay(c["Id"], "90.00", ("Invoice", inv["Id"], "70.00"))
    assert p2["UnappliedAmt"] == Decimal("20.00")
    paid = company.read("Invoice", inv["Id"])
    assert paid["Balance"] == 0 and [lt["TxnId"] for lt in paid["LinkedTxn"]] == [p2["Id"], p1["Id"]]
    assert company.read("Customer", c["Id"])["Balance"] == Decimal("-20.00")
    # changing a payment re-applies it
    company.update("Payment", {"Id": p1["Id"], "SyncToken": p1["SyncToken"], "sparse": True, "TotalAmt": "10.00",
                               "Line": [{"Amount": "10.00", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert company.read("Invoice", inv["Id"])["Balance"] == Decimal("20.00")
    # deleting a payment reopens the invoice
    current = company.read("Payment", p2["Id"])
    company.post("/payment", {"Id": p2["Id"], "SyncToken": current["SyncToken"]}, operation="delete")
    reopened = company.read("Invoice", inv["Id"])
    assert reopened["Balance"] == Decimal("90.00") and [lt["TxnId"] for lt in reopened["LinkedTxn"]] == [p1["Id"]]


def test_unknown_invoice_is_610(company: Api) -> None:
    c = company.customer("Wrong Ref")
    inv = company.invoice(c["Id"])
    r = company.post("/payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 1, "Line": [
        {"Amount": 1, "LinkedTxn": [{"TxnId": inv["DocNumber"] + "0", "TxnType": "Invoice"}]}]})
    assert company.fault(r)["code"] == "610"


def test_credit_memo_applied_through_payment(company: Api) -> None:
    c = company.customer("Credit Person")
    inv = company.invoice(c["Id"], "100.00")
    memo = company.create("CreditMemo", {"CustomerRef": {"value": c["Id"]}, "Line": [
        {"Amount": "25.00", "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    assert memo["RemainingCredit"] == Decimal("25.00") and company.read("Customer", c["Id"])["Balance"] == Decimal("75.00")
    company.pay(c["Id"], "0", ("Invoice", inv["Id"], "25.00"), ("CreditMemo", memo["Id"], "25.00"))
    assert company.read("Invoice", inv["Id"])["Balance"] == Decimal("75.00")
    assert company.read("CreditMemo", memo["Id"])["RemainingCredit"] == 0
    assert company.read("Customer", c["Id"])["Balance"] == Decimal("75.00")
    too_much = company.post("/payment", {"CustomerRef": {"value": c["Id"]}, "TotalAmt": 0, "Line": [
        {"Amount": 5, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]},
        {"Amount": 5, "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]}]})
    assert company.fault(too_much)["code"] == "6000"


def test_void_invoice_and_payment(company: Api) -> None:
    c = company.customer("Voider")
    inv = company.invoice(c["Id"], "50.00")
    p = company.pay(c["Id"], "50.00", ("Invoice", inv["Id"], "50.00"))
    current = company.read("Invoice", inv["Id"])
    voided = company.update("Invoice", {"Id": inv["Id"], "SyncToken": current["SyncToken"]}, operation="void")
    assert (voided["TotalAmt"], voided["Balance"], voided["LinkedTxn"], voided["PrivateNote"]) == (0, 0, [], "Voided")
    assert "status" not in voided
    freed = company.read("Payment", p["Id"])
    assert freed["UnappliedAmt"] == Decimal("50.00") and freed["Line"] == []
    v = company.update("Payment", {"Id": p["Id"], "SyncToken": freed["SyncToken"], "sparse": True},
                       operation="update", include="void")
    assert (v["TotalAmt"], v["UnappliedAmt"], v["PrivateNote"]) == (0, 0, "Voided")
    assert company.read("Customer", c["Id"])["Balance"] == 0


def test_deposit_lines_total_and_lock(company: Api) -> None:
    c = company.customer("Depositor")
    payments = []
    for amount in ("100.00", "50.00"):
        inv = company.invoice(c["Id"], amount)
        payments.append(company.pay(c["Id"], amount, ("Invoice", inv["Id"], amount)))
    fee_account = company.account_id("BankCharges")
    body = {"DepositToAccountRef": {"value": company.account_id("Checking")}, "PrivateNote": "payout po_1", "Line": [
        *({"Amount": p["TotalAmt"], "LinkedTxn": [{"TxnId": p["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}
          for p in payments),
        {"Amount": "-4.65", "DetailType": "DepositLineDetail",
         "DepositLineDetail": {"AccountRef": {"value": fee_account}}}]}
    deposit = company.create("Deposit", body)
    assert deposit["TotalAmt"] == Decimal("145.35")
    assert deposit["Line"][2]["DepositLineDetail"]["AccountRef"] == {"value": fee_account, "name": "Bank Charges"}
    assert "Id" not in deposit["Line"][0] and deposit["Line"][2]["Id"] == "1"
    swept = company.read("Payment", payments[0]["Id"])
    assert swept["LinkedTxn"] == [{"TxnId": deposit["Id"], "TxnType": "Deposit"}] and swept["SyncToken"] == "0"
    locked = company.post("/payment", {"Id": swept["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert company.fault(locked)["code"] == "6540"
    assert company.fault(company.post("/payment", {"Id": swept["Id"], "SyncToken": "0"}, operation="delete"))["code"] == "6540"
    twice = company.post("/deposit", {**body, "Line": body["Line"][:1]})
    assert company.fault(twice)["code"] == "6000"  # already deposited
    company.post("/deposit", {"Id": deposit["Id"], "SyncToken": deposit["SyncToken"]}, operation="delete")
    assert "LinkedTxn" not in company.read("Payment", payments[0]["Id"])  # back in Undeposited Funds


def test_deposit_line_shape_errors(company: Api) -> None:
    c = company.customer("Shapes")
    inv = company.invoice(c["Id"], "10.00")
    p = company.pay(c["Id"], "10.00", ("Invoice", inv["Id"], "10.00"))
    checking = {"value": company.account_id("Checking")}
    linked = {"Amount": 10, "LinkedTxn": [{"TxnId": p["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}
    r = company.post("/deposit", {"DepositToAccountRef": checking,
                                  "Line": [{**linked, "DetailType": "DepositLineDetail", "DepositLineDetail": {}}]})
    assert company.fault(r)["code"] == "2020"
    r = company.post("/deposit", {"DepositToAccountRef": checking, "Line": [
        {**linked, "DetailType": "DepositLineDetail", "DepositLineDetail": {"AccountRef": checking}}]})
    assert company.fault(r)["code"] == "6000"
    r = company.post("/deposit", {"Line": [linked]})
    assert company.fault(r)["code"] == "2020"
    r = company.post("/deposit", {"DepositToAccountRef": checking, "Line": [
        {"Amount": -20, "DetailType": "DepositLineDetail",
         "DepositLineDetail": {"AccountRef": {"value": company.account_id("BankCharges")}}}, linked]})
    assert company.fault(r)["code"] == "6000"  # negative total refused (switch allow_negative_deposit)
    direct = company.pay(c["Id"], "5.00", DepositToAccountRef=checking)
    r = company.post("/deposit", {"DepositToAccountRef": checking, "Line": [
        {"Amount": 5, "LinkedTxn": [{"TxnId": direct["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}]})
    assert company.fault(r)["code"] == "6000"  # posted straight to the bank: nothing to sweep


def test_customers_deactivate_not_delete(company: Api) -> None:
    c = company.customer("Owes Money")
    company.invoice(c["Id"], "10.00")
    r = company.post("/customer", {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert company.fault(r)["Message"] == "Delete List Has Balance Error"
    r = company.post("/customer", {"Id": c["Id"], "SyncToken": "0"}, operation="delete")
    assert company.fault(r)["code"] == "500"
    idle = company.customer("Idle")
    off = company.update("Customer", {"Id": idle["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert off["DisplayName"] == "Idle (deleted)" and off["Active"] is False
    again = company.customer("Idle")  # the suffix freed the name
    dup = company.post("/customer", {"DisplayName": "idle"})
    assert company.fault(dup)["code"] == "6240" and again["Active"]
    clash = company.post("/customer", {"Id": idle["Id"], "SyncToken": off["SyncToken"], "sparse": True, "Active": True})
    assert company.fault(clash)["code"] == "6240"  # reactivating takes the name back, which is in use
    company.update("Customer", {"Id": again["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Idle Two"})
    back = company.update("Customer", {"Id": idle["Id"], "SyncToken": off["SyncToken"], "sparse": True, "Active": True})
    assert back["DisplayName"] == "Idle" and back["Active"] is True
    r = company.post("/invoice", {"CustomerRef": {"value": "424242"}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    assert company.fault(r)["code"] == "610"


def test_deleted_invoice_cannot_be_read_or_deleted_again(company: Api) -> None:
    c = company.customer("Deleter")
    inv = company.invoice(c["Id"])
    company.post("/invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="delete")
    assert company.get(f"/invoice/{inv['Id']}").status_code == 400
    again = company.post("/invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="delete")
    assert company.fault(again)["code"] == "610"


def test_requestid_replay_byte_for_byte(company: Api, admin: httpx.Client) -> None:
    c = company.customer("Idempotent")
    inv = company.invoice(c["Id"], "10.00")
    body = {"CustomerRef": {"value": c["Id"]}, "TotalAmt": "10.00", "PaymentRefNum": "pay_1",
            "Line": [{"Amount": "10.00", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]}
    first = company.post("/payment", body, requestid="req-123")
    second = company.post("/payment", body, requestid="req-123")
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert company.query("SELECT COUNT(*) FROM Payment")["totalCount"] == 1
    # "ignore": QBO failing to dedupe (I:intuit/QuickBooks-V3-DotNET-SDK#352), for natural-key tests
    admin.put("/_emulator/config", json={"realm_id": company.realm, "requestid_replay": "ignore"})
    inv2 = company.invoice(c["Id"], "10.00")
    body2 = {**body, "Line": [{"Amount": "10.00", "LinkedTxn": [{"TxnId": inv2["Id"], "TxnType": "Invoice"}]}]}
    company.post("/payment", {**body2, "TotalAmt": "5.00", "Line": [{**body2["Line"][0], "Amount": "5.00"}]},
                 requestid="req-456")
    dup = company.post("/payment", {**body2, "TotalAmt": "5.00", "Line": [{**body2["Line"][0], "Amount": "5.00"}]},
                       requestid="req-456")
    assert dup.status_code == 200
    assert company.query("SELECT COUNT(*) FROM Payment")["totalCount"] == 3


def test_minorversion_any_or_none(company: Api) -> None:
    for params in ({"minorversion": "4"}, {"minorversion": "75"}, {}):
        r = company.http.get(f"/companyinfo/{company.realm}", params=params, headers=company.auth)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        assert r.headers["intuit_tid"]
    tids = {company.get(f"/companyinfo/{company.realm}").headers["intuit_tid"] for _ in range(3)}
    assert len(tids) == 3
    assert parse(company.get(f"/companyinfo/{company.realm}"))["time"].endswith(("-08:00", "-07:00"))
