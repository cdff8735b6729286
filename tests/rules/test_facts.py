"""QBO JSON → facts: real fixtures, edge cases, and fuzzing (malformed input raises BadQboPayload only)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.facts import (
    BadQboPayload,
    QboCustomerFacts,
    QboInvoiceFacts,
    QboTombstone,
    newest_change,
    parse_account,
    parse_customer,
    parse_invoice,
)
from rules.values import to_instant, to_money
from tests.rules.factories import load_fixture, qbo_invoice, tombstone

D = Decimal


def test_invoice_create_response_fixture() -> None:
    facts = parse_invoice(load_fixture("invoice_create_response.json"))
    assert facts == QboInvoiceFacts(
        qbo_id="266", sync_token=0, doc_number="1043", customer_qbo_id="1", total=D("100.00"),
        balance=D("100.00"), currency="USD", due_date=date(2020, 10, 29), voided=False,
        last_updated=datetime(2020, 9, 29, 12, 58, 7, tzinfo=UTC),  # 05:58:07-07:00 as an instant
    )


def test_void_detected_per_qbo_reference_5_1() -> None:
    before = parse_invoice(load_fixture("invoice_read_before_void.json"))
    after = parse_invoice(load_fixture("invoice_void_response.json"))
    assert isinstance(before, QboInvoiceFacts) and not before.voided
    assert isinstance(after, QboInvoiceFacts) and after.voided and after.total == 0
    assert after.sync_token == before.sync_token + 1


def test_zero_total_without_voided_note_is_not_a_void() -> None:
    raw = load_fixture("invoice_void_response.json")
    raw["Invoice"]["PrivateNote"] = "free of charge"
    facts = parse_invoice(raw)
    assert isinstance(facts, QboInvoiceFacts) and not facts.voided


def test_paid_invoice_fixture() -> None:
    facts = parse_invoice(load_fixture("airbyte_record_invoice_12_paid_by_two_payments.json")["data"])
    assert isinstance(facts, QboInvoiceFacts) and facts.balance == 0 and facts.sync_token == 3


def test_delete_response_is_a_tombstone() -> None:
    assert parse_invoice(load_fixture("invoice_delete_response.json")) == QboTombstone(entity="Invoice", qbo_id="266")


def test_cdc_tombstone_with_metadata() -> None:
    raw = {"domain": "QBO", "status": "Deleted", "Id": "39",
           "MetaData": {"LastUpdatedTime": "2026-01-05T09:00:00-08:00"}}
    dead = parse_invoice(raw)
    assert isinstance(dead, QboTombstone)
    assert dead.last_updated == datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["customer_read.json", "customer_create_response.json",
                                  "customer_update_response.json"])
def test_customer_fixtures(name: str) -> None:
    facts = parse_customer(load_fixture(name))
    assert isinstance(facts, QboCustomerFacts) and facts.display_name and facts.last_updated.tzinfo is UTC


def test_inactive_account_fixture() -> None:
    acct = parse_account(load_fixture("account_read_inactive.json"))
    assert not acct.active and acct.name.endswith("(deleted)")


@pytest.mark.parametrize(("value", "expected"), [
    (D("100.00"), D("100.00")), (100, D("100.00")), ("100.5", D("100.50")), (100.1, D("100.10")),
    ("  7 ", D("7.00")),
])
def test_amounts_become_two_place_decimals(value: Any, expected: Decimal) -> None:
    got = to_money(value)
    assert got == expected and got.as_tuple().exponent == -2


@pytest.mark.parametrize("value", [True, None, "abc", "1.001", float("nan"), "Infinity", D("1e20"), [], {}])
def test_bad_amounts_raise_value_error(value: Any) -> None:
    with pytest.raises(ValueError):
        to_money(value)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda inv: inv.pop("SyncToken"), "SyncToken is missing"),
    (lambda inv: inv.update(SyncToken="-1"), "SyncToken"),
    (lambda inv: inv.update(TotalAmt="12.345"), "TotalAmt"),
    (lambda inv: inv.update(Balance=-5), "balance"),
    (lambda inv: inv["MetaData"].update(LastUpdatedTime="2020-09-29T05:58:07"), "offset"),
    (lambda inv: inv.update(CustomerRef={"name": "Amy"}), "CustomerRef.value"),
    (lambda inv: inv.update(CurrencyRef={"value": "US Dollar"}), "currency"),
    (lambda inv: inv.update(DueDate="next week"), "DueDate"),
])
def test_malformed_invoice_messages_name_the_field(mutate: Any, match: str) -> None:
    raw = load_fixture("invoice_create_response.json")
    mutate(raw["Invoice"])
    with pytest.raises(BadQboPayload, match=match):
        parse_invoice(raw)


def test_missing_currency_uses_home_currency() -> None:
    raw = load_fixture("invoice_create_response.json")["Invoice"]
    del raw["CurrencyRef"]
    facts = parse_invoice(raw, home_currency="cad")
    assert isinstance(facts, QboInvoiceFacts) and facts.currency == "CAD"


def test_newest_change_prefers_tombstone_then_highest_token() -> None:
    v1, v3 = qbo_invoice(sync_token=1), qbo_invoice(sync_token=3)
    assert newest_change([v3, v1]) is v3
    assert newest_change([v3, tombstone(), v1]) == tombstone()
    with pytest.raises(ValueError):
        newest_change([v1, qbo_invoice(qbo_id="999")])


# --- Fuzzing --------------------------------------------------------------------------------------------

JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(max_size=30)
                | st.floats(allow_nan=True, allow_infinity=True)
                | st.decimals(allow_nan=True, allow_infinity=True, places=None))
JSON = st.recursive(JSON_SCALARS, lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=12), kids, max_size=3), max_leaves=8)
INVOICE_KEYS = ["Id", "SyncToken", "TotalAmt", "Balance", "CurrencyRef", "CustomerRef", "DueDate", "DocNumber",
                "MetaData", "PrivateNote", "status", "Invoice"]
CUSTOMER_KEYS = ["Id", "SyncToken", "DisplayName", "Active", "PrimaryEmailAddr", "MetaData", "status", "Customer"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _mutated(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    edits = st.lists(st.tuples(st.sampled_from(keys), st.one_of(st.just("<delete>"), JSON)), max_size=4)

    def apply(changes: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = copy.deepcopy(base)
        for key, value in changes:
            if value == "<delete>":
                obj.pop(key, None)
            else:
                obj[key] = value
        return obj

    return edits.map(apply)


def _assert_no_float(model: Any) -> None:
    for value in model.model_dump().values():
        assert not isinstance(value, float)


@FUZZ
@given(raw=JSON | _mutated(load_fixture("invoice_create_response.json")["Invoice"], INVOICE_KEYS))
def test_fuzz_parse_invoice_raises_only_bad_payload(raw: Any) -> None:
    try:
        facts = parse_invoice(raw)
    except BadQboPayload:
        return
    _assert_no_float(facts)
    if isinstance(facts, QboInvoiceFacts):
        assert facts.total.as_tuple().exponent == -2 and facts.last_updated.tzinfo is UTC


@FUZZ
@given(raw=JSON | _mutated(load_fixture("customer_read.json")["Customer"], CUSTOMER_KEYS))
def test_fuzz_parse_customer_raises_only_bad_payload(raw: Any) -> None:
    try:
        facts = parse_customer(raw)
    except BadQboPayload:
        return
    _assert_no_float(facts)


@FUZZ
@given(raw=JSON | _mutated({"Id": "4", "Name": "Undeposited Funds", "AccountType": "Other Current Asset",
                            "AccountSubType": "UndepositedFunds", "Active": True, "CurrencyRef": {"value": "EUR"}},
                           ["Id", "Name", "AccountType", "AccountSubType", "Active", "CurrencyRef"]))
def test_fuzz_parse_account_raises_only_bad_payload(raw: Any) -> None:
    """Valid input parses to exactly its fields; invalid input raises BadQboPayload, never anything else."""
    expected = _account_oracle(raw)
    if expected is None:
        with pytest.raises(BadQboPayload):
            parse_account(raw)
    else:
        assert parse_account(raw).model_dump() == expected


def _account_oracle(raw: Any) -> dict[str, Any] | None:
    """What parse_account must answer for `raw`, written independently of it: the fields, or None (refused)."""
    if not isinstance(raw, dict):
        return None
    obj = raw["Account"] if "Id" not in raw and isinstance(raw.get("Account"), dict) else raw
    qbo_id, name, kind = obj.get("Id"), obj.get("Name"), obj.get("AccountType")
    subtype, active = obj.get("AccountSubType"), obj.get("Active")
    if isinstance(qbo_id, int) and not isinstance(qbo_id, bool):
        qbo_id = str(qbo_id)
    if not isinstance(qbo_id, str) or not qbo_id.strip() or len(qbo_id) > 64:
        return None
    if not isinstance(name, str) or not isinstance(kind, str):
        return None
    if subtype is not None and not isinstance(subtype, str):
        return None
    if active is not None and not isinstance(active, bool):
        return None
    currency_ref = obj.get("CurrencyRef")
    currency = currency_ref.get("value") if isinstance(currency_ref, dict) else None
    if currency is not None:
        code = currency.strip() if isinstance(currency, str) else ""
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            return None
        currency = code.upper()
    return {"qbo_id": qbo_id.strip(), "name": name, "account_type": kind, "account_subtype": subtype,
            "active": active is not False, "currency": currency}


def _money_or_error(value: Any) -> Any:
    try:
        got = to_money(value)
    except ValueError:
        return "refused"
    return got, got.as_tuple()


@settings(max_examples=300, deadline=None)
@given(amount=st.decimals(allow_nan=False, allow_infinity=False, places=2)
       | st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**17, max_value=10**17, places=2))
def test_money_from_a_decimal_is_money_from_its_text(amount: Decimal) -> None:
    """`to_money` answers a two-place Decimal (QBO's amounts, and every model re-validating one) without the
    general path: the answer, exponent included, or the refusal (out of numeric(18, 2)), is the same as for the
    amount's text."""
    assert _money_or_error(amount) == _money_or_error(str(amount))


@pytest.mark.parametrize("amount", [D("12345678901234567.89"), D("-10000000000000000.00"), D("9999999999999999.99"),
                                    D("1.234"), D("1.230"), D("5"), D("-0.00"), D("1E+2"), D("0.1")])
def test_money_range_holds_for_two_place_decimals(amount: Decimal) -> None:
    assert _money_or_error(amount) == _money_or_error(str(amount))
    if abs(amount) >= D("1e16"):
        with pytest.raises(ValueError, match="out of range"):
            to_money(amount)


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(timezones=st.timezones()))
def test_an_instant_of_an_instant_is_itself(moment: datetime) -> None:
    instant = to_instant(moment)
    assert instant.tzinfo is UTC and to_instant(instant) == instant
    assert to_instant(instant.isoformat()) == instant
