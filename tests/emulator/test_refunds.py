"""What the refund bookings of docs/refunds.md need from QBO (qbo-reference §15.1, §15.2): a Payment
reduced by a sparse update or voided gives its invoice the amount back; a deposited Payment is locked
(6540) for both; a RefundReceipt is created from a bank or Other Current Asset account, read and queried,
and leaves the invoice paid; a Deposit takes a negative line to a clearing (Other Current Asset) account."""

from __future__ import annotations

from decimal import Decimal

from tests.emulator.support import Api


def _clearing(company: Api) -> str:
    return company.create("Account", {"Name": "Refunds Clearing", "AccountType": "Other Current Asset"})["Id"]


def _paid_invoice(company: Api, amount: str = "100.00") -> tuple[dict, dict, dict]:
    c = company.customer("Refunded Person")
    inv = company.invoice(c["Id"], amount)
    return c, inv, company.pay(c["Id"], amount, ("Invoice", inv["Id"], amount))


def _reduce(company: Api, payment: dict, invoice_id: str, total: str) -> dict:
    return company.update("Payment", {
        "Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True, "TotalAmt": total,
        "CustomerRef": payment["CustomerRef"], "PrivateNote": "refunds: r1",
        "Line": [{"Amount": total, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}]})


def test_reducing_a_payment_reopens_its_invoice_by_the_difference(company: Api) -> None:
    c, inv, p = _paid_invoice(company)
    reduced = _reduce(company, p, inv["Id"], "60.00")
    assert (reduced["TotalAmt"], reduced["UnappliedAmt"], reduced["SyncToken"]) == (Decimal("60.00"), 0, "1")
    assert reduced["PrivateNote"] == "refunds: r1" and reduced["DepositToAccountRef"] == p["DepositToAccountRef"]
    reopened = company.read("Invoice", inv["Id"])
    assert reopened["Balance"] == Decimal("40.00") and reopened["LinkedTxn"] == [{"TxnId": p["Id"], "TxnType": "Payment"}]
    assert company.read("Customer", c["Id"])["Balance"] == Decimal("40.00")


def test_voiding_a_payment_gives_the_invoice_its_whole_balance_back(company: Api) -> None:
    _, inv, p = _paid_invoice(company, "80.00")
    reduced = _reduce(company, p, inv["Id"], "30.00")
    voided = company.update("Payment", {"Id": p["Id"], "SyncToken": reduced["SyncToken"], "sparse": True},
                            operation="update", include="void")
    assert (voided["TotalAmt"], voided.get("Line", []), voided["PrivateNote"]) == (0, [], "Voided")
    reopened = company.read("Invoice", inv["Id"])
    assert reopened["Balance"] == Decimal("80.00") and reopened["LinkedTxn"] == []


def test_a_deposited_payment_can_be_neither_reduced_nor_voided(company: Api) -> None:
    _, inv, p = _paid_invoice(company, "50.00")
    company.create("Deposit", {"DepositToAccountRef": {"value": company.account_id("Checking")}, "Line": [
        {"Amount": "50.00", "LinkedTxn": [{"TxnId": p["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}]})
    swept = company.read("Payment", p["Id"])
    reduce = company.post("/payment", {"Id": p["Id"], "SyncToken": swept["SyncToken"], "sparse": True,
                                       "TotalAmt": "20.00", "CustomerRef": p["CustomerRef"], "Line": [
        {"Amount": "20.00", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert company.fault(reduce)["code"] == "6540"
    void = company.post("/payment", {"Id": p["Id"], "SyncToken": swept["SyncToken"], "sparse": True},
                        operation="update", include="void")
    assert company.fault(void)["code"] == "6540"
    assert company.read("Invoice", inv["Id"])["Balance"] == 0  # nothing changed


def test_refund_receipt_create_read_query_and_the_invoice_stays_paid(company: Api) -> None:
    c, inv, _ = _paid_invoice(company, "70.00")
    clearing = _clearing(company)
    body = {"CustomerRef": {"value": c["Id"]}, "DepositToAccountRef": {"value": clearing},
            "PrivateNote": "Alternative Payments refund rf_1", "TxnDate": "2026-03-02", "PrintStatus": "NotSet",
            "Line": [{"Amount": "25.00", "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]}
    rr = company.create("RefundReceipt", body)
    assert (rr["TotalAmt"], rr["Balance"], rr["TxnDate"]) == (Decimal("25.00"), 0, "2026-03-02")
    assert rr["DepositToAccountRef"] == {"value": clearing, "name": "Refunds Clearing"} and rr["SyncToken"] == "0"
    assert rr["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "1", "name": "Services"}
    assert rr["DocNumber"] and "PaymentRefNum" not in rr
    assert int(rr["Id"]) > int(inv["Id"])  # transactions share one Id sequence
    assert company.read("RefundReceipt", rr["Id"]) == rr
    found = company.query("select * from RefundReceipt where PrivateNote = 'Alternative Payments refund rf_1'")
    assert [r["Id"] for r in found["RefundReceipt"]] == [rr["Id"]]
    assert company.read("Invoice", inv["Id"])["Balance"] == 0  # A/R untouched: the invoice stays paid
    to_print = company.create("RefundReceipt", {**body, "PrintStatus": "NeedToPrint", "PrivateNote": "x"})
    assert to_print["PaymentRefNum"] == "To Print"  # R-rr: Intuit's minimal create from Checking


def test_refund_receipt_refuses_what_qbo_refuses(company: Api) -> None:
    c = company.customer("Refusals")
    line = {"Amount": "5.00", "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    no_account = company.post("/refundreceipt", {"CustomerRef": {"value": c["Id"]}, "Line": [line]})
    assert company.fault(no_account)["code"] == "2020"
    income = company.account_id("ServiceFeeIncome")
    wrong = company.post("/refundreceipt", {"CustomerRef": {"value": c["Id"]}, "Line": [line],
                                            "DepositToAccountRef": {"value": income}})
    assert company.fault(wrong)["code"] == "6000"
    negative = company.post("/refundreceipt", {"CustomerRef": {"value": c["Id"]}, "DepositToAccountRef": {
        "value": company.account_id("Checking")}, "Line": [{**line, "Amount": "-5.00"}]})
    assert company.fault(negative)["code"] == "6000"


def test_deposit_with_a_negative_clearing_line_equals_the_net(company: Api) -> None:
    _, _, p = _paid_invoice(company, "100.00")
    clearing = _clearing(company)
    deposit = company.create("Deposit", {"DepositToAccountRef": {"value": company.account_id("Checking")}, "Line": [
        {"Amount": "100.00", "LinkedTxn": [{"TxnId": p["Id"], "TxnType": "Payment", "TxnLineId": "0"}]},
        {"Amount": "-30.00", "DetailType": "DepositLineDetail", "DepositLineDetail": {"AccountRef": {"value": clearing}}},
        {"Amount": "-2.50", "DetailType": "DepositLineDetail",
         "DepositLineDetail": {"AccountRef": {"value": company.account_id("BankCharges")}}}]})
    assert deposit["TotalAmt"] == Decimal("67.50")
    assert deposit["Line"][1]["DepositLineDetail"]["AccountRef"]["value"] == clearing
