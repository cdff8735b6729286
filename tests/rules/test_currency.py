"""Foreign currency in the pure rules (PRODUCT.md §4 "Currency", docs/currency.md): reading CurrencyPrefs and
an invoice's ExchangeRate, the Payment body, the Deposit body, and the preferences refused for currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from rules.deposits import (
    DepositAction,
    DepositCurrency,
    DepositCurrencyError,
    DepositPayment,
    PayoutFacts,
    build_deposit,
    decide_deposit,
)
from rules.facts import AccountFacts, BadQboPayload, CurrencyFacts, parse_currency_prefs, parse_invoice
from rules.posting import build_payment
from rules.preferences import Preferences, validate_preferences
from tests.rules.factories import load_fixture, payment

D = Decimal
ACCOUNTS = [
    AccountFacts(qbo_id="4", name="Undeposited Funds", account_type="Other Current Asset",
                 account_subtype="UndepositedFunds"),
    AccountFacts(qbo_id="35", name="Checking", account_type="Bank", account_subtype="Checking"),
    AccountFacts(qbo_id="90", name="Checking EUR", account_type="Bank", account_subtype="Checking", currency="EUR"),
    AccountFacts(qbo_id="60", name="Fees", account_type="Expense"),
]


def _invoice_json(**changes: object) -> dict:
    raw = dict(load_fixture("invoice_create_response.json")["Invoice"])
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def test_currency_prefs_are_read_and_default_to_usd_single_currency() -> None:
    prefs = {"CurrencyPrefs": {"HomeCurrency": {"value": "CAD"}, "MultiCurrencyEnabled": True}, "Id": "1"}
    assert parse_currency_prefs(prefs) == ("CAD", True)
    assert parse_currency_prefs({"Preferences": prefs}) == ("CAD", True)
    assert parse_currency_prefs({"Id": "1"}) == ("USD", False)
    with pytest.raises(BadQboPayload):
        parse_currency_prefs({"CurrencyPrefs": {"HomeCurrency": {"value": "euro"}}})


def test_invoice_keeps_its_rate_and_a_missing_currency_is_the_home_one() -> None:
    eur = parse_invoice(_invoice_json(CurrencyRef={"value": "EUR"}, ExchangeRate=D("1.0850")), home_currency="USD")
    assert eur.currency == "EUR" and eur.exchange_rate == D("1.0850")  # type: ignore[union-attr]
    bare = parse_invoice(_invoice_json(CurrencyRef=None), home_currency="GBP")
    assert bare.currency == "GBP" and bare.exchange_rate is None  # type: ignore[union-attr]
    with pytest.raises(BadQboPayload):
        parse_invoice(_invoice_json(ExchangeRate="-1"))


def test_foreign_payment_carries_the_invoice_rate_and_home_payment_none() -> None:
    prefs = Preferences(payment_account_id="4")
    body = build_payment(payment(currency="EUR"), qbo_customer_id="58", qbo_invoice_id="130", prefs=prefs,
                         home_currency="USD", exchange_rate=D("1.0850"))
    assert body["CurrencyRef"] == {"value": "EUR"} and body["ExchangeRate"] == D("1.0850")
    home = build_payment(payment(), qbo_customer_id="58", qbo_invoice_id="130", prefs=prefs,
                         home_currency="USD", exchange_rate=D("1.0850"))
    assert "ExchangeRate" not in home and home["CurrencyRef"] == {"value": "USD"}
    with pytest.raises(ValueError, match="no ExchangeRate"):  # never booked at QBO's default of 1
        build_payment(payment(currency="EUR"), qbo_customer_id="58", qbo_invoice_id="130", prefs=prefs,
                      home_currency="USD", exchange_rate=None)


EUR_PAYOUT = PayoutFacts(id="po-e", gross_amount=D("300.00"), fee_amount=D("3.00"), net_amount=D("297.00"),
                         currency="EUR", arrival_date=date(2027, 1, 4))
EUR_PAYS = [DepositPayment(payment_id="p1", amount=D("100.00"), qbo_payment_id="98", exchange_rate=D("1.10")),
            DepositPayment(payment_id="p2", amount=D("200.00"), qbo_payment_id="99", exchange_rate=D("1.25"))]


def test_deposit_is_in_the_bank_currency_at_the_payments_rate() -> None:
    plan = build_deposit(EUR_PAYOUT, EUR_PAYS, "90", "60", currency=DepositCurrency(home="USD", bank="EUR"))
    assert plan.body["CurrencyRef"] == {"value": "EUR"} and plan.total_amt == D("297.00")
    # (100 × 1.10 + 200 × 1.25) / 300 = 1.2: Undeposited Funds gives back the home value the Payments put in
    assert plan.body["ExchangeRate"] == D("1.2")
    home = build_deposit(EUR_PAYOUT.model_copy(update={"currency": "USD"}), EUR_PAYS, "35", "60",
                         currency=DepositCurrency(home="USD", bank="USD"))
    assert home.body["CurrencyRef"] == {"value": "USD"} and "ExchangeRate" not in home.body


def test_payout_in_another_currency_than_its_bank_needs_a_person() -> None:
    with pytest.raises(DepositCurrencyError, match="choose a deposit account in EUR"):
        build_deposit(EUR_PAYOUT, EUR_PAYS, "35", "60", currency=DepositCurrency(home="USD", bank="USD"))
    prefs = Preferences(create_deposits=True, deposit_account_id="35", fee_account_id="60")
    decision = decide_deposit(EUR_PAYOUT, EUR_PAYS, prefs, currency=DepositCurrency(home="USD", bank="USD"))
    assert decision.action == DepositAction.NEEDS_ATTENTION and decision.code == "currency_mismatch"


USD_EUR = CurrencyFacts(home_currency="USD", multicurrency=True, invoice_currencies=("EUR",))


@pytest.mark.parametrize(("prefs", "currency", "problem"), [
    # deposits on: the bank must be in the payments' currency
    (Preferences(create_deposits=True, deposit_account_id="35", fee_account_id="60"), USD_EUR,
     "deposit_account_id: account 'Checking' (35) is in USD and cannot take the partner's payments in EUR"),
    (Preferences(create_deposits=True, deposit_account_id="90", fee_account_id="60"), USD_EUR, None),
    (Preferences(create_deposits=True, deposit_account_id="90", fee_account_id="60"),
     USD_EUR.model_copy(update={"invoice_currencies": ("EUR", "USD")}), "keep Create Deposits off"),
    # deposits off: payments go to home currency or their own currency
    (Preferences(payment_account_id="35"), USD_EUR, None),
    (Preferences(payment_account_id="90"), USD_EUR, None),
    (Preferences(payment_account_id="90"), USD_EUR.model_copy(update={"invoice_currencies": ("EUR", "USD")}),
     "payment_account_id: account 'Checking EUR' (90) is in EUR and cannot take the partner's payments in USD"),
    # a single-currency company: nothing to refuse
    (Preferences(create_deposits=True, deposit_account_id="35", fee_account_id="60"),
     CurrencyFacts(invoice_currencies=("USD",)), None),
])
def test_preferences_refuse_accounts_that_cannot_take_the_payments(
        prefs: Preferences, currency: CurrencyFacts, problem: str | None) -> None:
    problems = validate_preferences(prefs, ACCOUNTS, currency)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems
