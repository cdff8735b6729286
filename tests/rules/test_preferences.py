"""Preferences: validation against the partner's accounts and the §4 defaults."""

from __future__ import annotations

import pytest

from rules.facts import parse_account
from rules.preferences import Preferences, default_preferences, fee_account_body, validate_preferences
from tests.rules.factories import CHART, account, load_fixture


def test_defaults_use_undeposited_funds_and_existing_fee_account() -> None:
    prefs = default_preferences(CHART)
    assert prefs == Preferences(payment_account_id="4", create_deposits=False, deposit_account_id=None,
                                fee_account_id="60")
    assert validate_preferences(prefs, CHART) == []


def test_defaults_without_fee_account_mean_create_it() -> None:
    chart = [a for a in CHART if a.qbo_id != "60"]
    assert default_preferences(chart).fee_account_id is None
    assert fee_account_body() == {"Name": "Alternative Payments Fees", "AccountType": "Expense",
                                  "AccountSubType": "BankCharges"}


def test_defaults_ignore_inactive_or_wrong_type_namesakes() -> None:
    chart = [account("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", active=False),
             account("70", "alternative payments fees ", "Income"),
             account("71", "Alternative Payments Fees", "Expense", active=False)]
    assert default_preferences(chart) == Preferences()


@pytest.mark.parametrize(("prefs", "fragments"), [
    (Preferences(payment_account_id="35"), []),  # a bank account is fine
    (Preferences(payment_account_id="79"), ["payment_account_id", "'Income'"]),
    (Preferences(payment_account_id="404"), ["payment_account_id", "does not exist"]),
    (Preferences(create_deposits=True), ["deposit_account_id is required"]),
    (Preferences(create_deposits=True, deposit_account_id="4"), ["deposit_account_id", "Bank"]),
    (Preferences(create_deposits=True, deposit_account_id="36"), []),
    (Preferences(fee_account_id="61"), ["fee_account_id", "inactive"]),
    (Preferences(fee_account_id="62"), []),  # Cost of Goods Sold is allowed
    (Preferences(fee_account_id="35"), ["fee_account_id", "Expense"]),
    (Preferences(other_income_account_id="79"), []),  # issue 12: an Income account
    (Preferences(other_income_account_id="60"), ["other_income_account_id", "Income"]),
    (Preferences(other_income_account_id="404"), ["other_income_account_id", "does not exist"]),
])
def test_validate_preferences(prefs: Preferences, fragments: list[str]) -> None:
    errors = validate_preferences(prefs, CHART)
    if not fragments:
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert all(f in errors[0] for f in fragments), errors


def test_every_problem_is_reported_at_once() -> None:
    bad = Preferences(payment_account_id="79", create_deposits=True, fee_account_id="404")
    assert len(validate_preferences(bad, CHART)) == 3


def test_preferences_model_normalises_and_forbids_unknown_fields() -> None:
    assert Preferences(payment_account_id=" ", deposit_account_id=35).model_dump() == {
        "payment_account_id": None, "create_deposits": False, "deposit_account_id": "35", "fee_account_id": None,
        "other_income_account_id": None, "time_zone": "America/Los_Angeles"}
    with pytest.raises(ValueError):
        Preferences.model_validate({"paymnt_account_id": "4"})


def test_chart_from_fixtures_validates() -> None:
    uf = parse_account(load_fixture("airbyte_record_account_undeposited_funds.json")["data"])
    bank = parse_account(load_fixture("airbyte_record_account_checking_bank.json")["data"])
    assert default_preferences([uf, bank]).payment_account_id == uf.qbo_id
    assert validate_preferences(Preferences(create_deposits=True, deposit_account_id=bank.qbo_id), [uf, bank]) == []
