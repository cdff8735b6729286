"""Multicurrency in the emulator (qbo-reference §15.5, docs/currency.md): Preferences.CurrencyPrefs, customers
and accounts with a currency, invoices and payments with ExchangeRate and home amounts, the currency faults.
Default companies stay single-currency USD."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.emulator.support import Api, parse


def _company(admin: httpx.Client, emulator_url: str, **spec: object) -> Api:
    r = admin.post("/_emulator/companies", json={"name": "FX Co", **spec})
    assert r.status_code == 200, r.text
    body = r.json()
    token = admin.post(f"/_emulator/companies/{body['realm_id']}/tokens").json()
    return Api(emulator_url, body["realm_id"], token, body)


@pytest.fixture
def fx(admin: httpx.Client, emulator_url: str) -> Iterator[Api]:
    """A USD company with multicurrency on, a EUR customer and a EUR bank account."""
    api = _company(admin, emulator_url, multicurrency=True)
    api.eur_customer = api.customer("Europa GmbH", CurrencyRef={"value": "EUR"})  # type: ignore[attr-defined]
    api.eur_bank = api.create("Account", {"Name": "Checking EUR", "AccountType": "Bank",  # type: ignore[attr-defined]
                                          "CurrencyRef": {"value": "EUR"}})
    yield api
    api.close()


def _prefs(api: Api) -> dict:
    r = api.get("/preferences")
    assert r.status_code == 200, r.text
    return parse(r)["Preferences"]["CurrencyPrefs"]


def test_default_company_is_single_currency_usd(company: Api) -> None:
    assert _prefs(company) == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    c = company.customer("Home Person")
    inv = company.invoice(c["Id"], "10.00")
    assert inv["CurrencyRef"] == {"value": "USD", "name": "United States Dollar"}
    assert "ExchangeRate" not in inv and "HomeBalance" not in inv and "HomeTotalAmt" not in inv
    foreign = company.post("/customer", {"DisplayName": "Abroad", "CurrencyRef": {"value": "EUR"}})
    assert company.fault(foreign)["code"] == "6000"  # multicurrency off: home currency only
    bank = company.post("/account", {"Name": "Euro bank", "AccountType": "Bank", "CurrencyRef": {"value": "EUR"}})
    assert company.fault(bank)["code"] == "6000"


def test_preferences_are_read_only_and_queryable(fx: Api) -> None:
    assert _prefs(fx) == {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}}
    queried = fx.query("select * from Preferences")["Preferences"][0]
    assert queried["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    r = fx.post("/preferences", {"CurrencyPrefs": {"MultiCurrencyEnabled": False}})
    assert r.status_code == 400 and fx.fault(r)["code"] == "500"


def test_turning_multicurrency_on_is_one_way(admin: httpx.Client, company: Api) -> None:
    on = admin.put(f"/_emulator/companies/{company.realm}/preferences", json={"multicurrency": True})
    assert on.status_code == 200, on.text
    assert _prefs(company)["MultiCurrencyEnabled"] is True
    off = admin.put(f"/_emulator/companies/{company.realm}/preferences", json={"multicurrency": False})
    assert off.status_code == 409 and _prefs(company)["MultiCurrencyEnabled"] is True


def test_foreign_invoice_carries_rate_and_home_amounts(fx: Api) -> None:
    c = fx.eur_customer  # type: ignore[attr-defined]
    assert c["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    inv = fx.invoice(c["Id"], "100.00", ExchangeRate="1.0850")
    assert inv["CurrencyRef"]["value"] == "EUR" and inv["ExchangeRate"] == Decimal("1.0850")
    assert inv["HomeTotalAmt"] == Decimal("108.50") == inv["HomeBalance"]
    home = fx.invoice(fx.customer("Home Buyer")["Id"], "10.00")
    assert home["CurrencyRef"]["value"] == "USD" and home["ExchangeRate"] == 1
    wrong = fx.post("/invoice", {"CustomerRef": {"value": c["Id"]}, "CurrencyRef": {"value": "USD"}, "Line": [
        {"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    assert fx.fault(wrong)["code"] == "6000"  # an invoice is in its customer's currency
    fixed = fx.post("/customer", {"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": True,
                                  "CurrencyRef": {"value": "GBP"}})
    assert fx.fault(fixed)["code"] == "6000"  # a customer's currency cannot change once set


def test_foreign_payment_reduces_balance_and_home_balance(fx: Api) -> None:
    c = fx.eur_customer  # type: ignore[attr-defined]
    inv = fx.invoice(c["Id"], "100.00", ExchangeRate="1.10")
    pay = fx.pay(c["Id"], "40.00", ("Invoice", inv["Id"], "40.00"), CurrencyRef={"value": "EUR"}, ExchangeRate="1.10")
    assert pay["CurrencyRef"]["value"] == "EUR" and pay["ExchangeRate"] == Decimal("1.10")
    after = fx.read("Invoice", inv["Id"])
    assert after["Balance"] == Decimal("60.00") and after["HomeBalance"] == Decimal("66.00")
    to_eur_bank = fx.pay(c["Id"], "10.00", ("Invoice", inv["Id"], "10.00"),
                         DepositToAccountRef={"value": fx.eur_bank["Id"]})  # type: ignore[attr-defined]
    assert to_eur_bank["DepositToAccountRef"]["value"] == fx.eur_bank["Id"]  # type: ignore[attr-defined]


def test_currency_mismatch_faults(fx: Api) -> None:
    eur, usd = fx.eur_customer, fx.customer("Dollar Buyer")  # type: ignore[attr-defined]
    inv = fx.invoice(eur["Id"], "50.00", ExchangeRate="1.2")
    # a payment in another currency than its customer's (and so than the invoice's)
    r = fx.post("/payment", {"CustomerRef": {"value": eur["Id"]}, "CurrencyRef": {"value": "USD"}, "TotalAmt": 50,
                             "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}]})
    assert fx.fault(r)["code"] == "6000" and "same currency" in fx.fault(r)["Detail"]
    # a USD payment into a EUR bank: the account is neither home nor the transaction's currency
    home_inv = fx.invoice(usd["Id"], "20.00")
    r = fx.post("/payment", {"CustomerRef": {"value": usd["Id"]}, "TotalAmt": 20,
                             "DepositToAccountRef": {"value": fx.eur_bank["Id"]},  # type: ignore[attr-defined]
                             "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": home_inv["Id"], "TxnType": "Invoice"}]}]})
    assert fx.fault(r)["code"] == "6000" and "home currency or the transaction currency" in fx.fault(r)["Detail"]
    assert fx.read("Invoice", home_inv["Id"])["Balance"] == Decimal("20.00")  # nothing changed
    # income accounts are home currency
    r = fx.post("/account", {"Name": "Euro sales", "AccountType": "Income", "CurrencyRef": {"value": "EUR"}})
    assert fx.fault(r)["code"] == "6000"


def test_deposit_is_in_its_bank_currency_and_takes_only_that_currency(fx: Api) -> None:
    eur = fx.eur_customer  # type: ignore[attr-defined]
    inv = fx.invoice(eur["Id"], "80.00", ExchangeRate="1.25")
    pay = fx.pay(eur["Id"], "80.00", ("Invoice", inv["Id"], "80.00"), ExchangeRate="1.25")
    assert pay["DepositToAccountRef"] == {"value": fx.account_id("UndepositedFunds")}  # UF takes foreign money
    linked = {"Amount": "80.00", "LinkedTxn": [{"TxnId": pay["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}
    fee = {"Amount": "-2.00", "DetailType": "DepositLineDetail",
           "DepositLineDetail": {"AccountRef": {"value": fx.account_id("BankCharges")}}}
    into_usd = fx.post("/deposit", {"DepositToAccountRef": {"value": fx.account_id("Checking")}, "Line": [linked]})
    assert fx.fault(into_usd)["code"] == "6000"
    assert "LinkedTxn" not in fx.read("Payment", pay["Id"])  # refused: not deposited
    deposit = fx.create("Deposit", {"DepositToAccountRef": {"value": fx.eur_bank["Id"]},  # type: ignore[attr-defined]
                                    "ExchangeRate": "1.25", "Line": [linked, fee]})
    assert deposit["CurrencyRef"]["value"] == "EUR" and deposit["TotalAmt"] == Decimal("78.00")
    assert deposit["ExchangeRate"] == Decimal("1.25") and deposit["HomeTotalAmt"] == Decimal("97.50")


def test_foreign_refund_receipt_is_in_its_customers_currency_from_a_home_or_same_currency_account(fx: Api) -> None:
    """A RefundReceipt is a sales document: in its customer's currency at the rate sent, HomeTotalAmt from it;
    paid from a home-currency account (the refund clearing account) or one in its currency, never another
    (qbo-reference §15.5: "The currency of the account must be either in home currency or the transaction
    currency")."""
    eur = fx.eur_customer  # type: ignore[attr-defined]
    clearing = fx.create("Account", {"Name": "Refunds Clearing", "AccountType": "Other Current Asset"})
    gbp_bank = fx.create("Account", {"Name": "Checking GBP", "AccountType": "Bank", "CurrencyRef": {"value": "GBP"}})
    line = {"Amount": "40.00", "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    body = {"CustomerRef": {"value": eur["Id"]}, "CurrencyRef": {"value": "EUR"}, "ExchangeRate": "1.10",
            "PrintStatus": "NotSet", "Line": [line]}
    rr = fx.create("RefundReceipt", {**body, "DepositToAccountRef": {"value": clearing["Id"]}})
    assert (rr["CurrencyRef"]["value"], rr["ExchangeRate"], rr["TotalAmt"], rr["HomeTotalAmt"]) == \
        ("EUR", Decimal("1.10"), Decimal("40.00"), Decimal("44.00"))
    from_eur = fx.create("RefundReceipt", {**body, "DepositToAccountRef": {"value": fx.eur_bank["Id"]}})  # type: ignore[attr-defined]
    assert from_eur["CurrencyRef"]["value"] == "EUR"
    at_one = fx.create("RefundReceipt", {**body, "ExchangeRate": None, "DepositToAccountRef": {"value": clearing["Id"]}})
    assert at_one["ExchangeRate"] == 1 and at_one["HomeTotalAmt"] == Decimal("40.00")  # R-pay's default: why we send it
    before = fx.query("select * from RefundReceipt").get("RefundReceipt", [])
    from_gbp = fx.post("/refundreceipt", {**body, "DepositToAccountRef": {"value": gbp_bank["Id"]}})
    assert fx.fault(from_gbp)["code"] == "6000"
    assert "home currency or the transaction currency" in fx.fault(from_gbp)["Detail"]
    in_usd = fx.post("/refundreceipt", {**body, "CurrencyRef": {"value": "USD"},
                                        "DepositToAccountRef": {"value": clearing["Id"]}})
    assert fx.fault(in_usd)["code"] == "6000" and "same currency" in fx.fault(in_usd)["Detail"]
    assert fx.query("select * from RefundReceipt").get("RefundReceipt", []) == before  # nothing written


def test_deposit_account_lines_are_in_home_currency_or_the_deposits(fx: Api) -> None:
    """A payout's refund clearing line in a EUR Deposit: a home-currency clearing account takes it, one in a
    third currency is refused (qbo-reference §15.5, the rule of a Payment's and a RefundReceipt's account)."""
    eur = fx.eur_customer  # type: ignore[attr-defined]
    inv = fx.invoice(eur["Id"], "50.00", ExchangeRate="1.10")
    pay = fx.pay(eur["Id"], "50.00", ("Invoice", inv["Id"], "50.00"), ExchangeRate="1.10")
    home_clearing = fx.create("Account", {"Name": "Clearing", "AccountType": "Other Current Asset"})
    gbp_clearing = fx.create("Account", {"Name": "Clearing GBP", "AccountType": "Other Current Asset",
                                         "CurrencyRef": {"value": "GBP"}})
    linked = {"Amount": "50.00", "LinkedTxn": [{"TxnId": pay["Id"], "TxnType": "Payment", "TxnLineId": "0"}]}

    def body(clearing: str) -> dict:
        return {"DepositToAccountRef": {"value": fx.eur_bank["Id"]}, "ExchangeRate": "1.10",  # type: ignore[attr-defined]
                "Line": [linked, {"Amount": "-5.00", "DetailType": "DepositLineDetail",
                                  "DepositLineDetail": {"AccountRef": {"value": clearing}}}]}

    refused = fx.post("/deposit", body(gbp_clearing["Id"]))
    assert fx.fault(refused)["code"] == "6000"
    assert "home currency or the transaction currency" in fx.fault(refused)["Detail"]
    assert "LinkedTxn" not in fx.read("Payment", pay["Id"])  # nothing deposited
    deposit = fx.create("Deposit", body(home_clearing["Id"]))
    assert (deposit["TotalAmt"], deposit["HomeTotalAmt"]) == (Decimal("45.00"), Decimal("49.50"))
