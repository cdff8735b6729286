"""Deposit body and decision (PRODUCT.md §4; qbo-reference §5.4, §6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from rules.deposits import (
    DepositAction,
    DepositError,
    DepositPayment,
    PayoutFacts,
    build_deposit,
    decide_deposit,
    deposit_memo,
    deposit_request_id,
)
from rules.preferences import Preferences

D = Decimal
ARRIVAL = date(2027, 1, 4)
PAYOUT = PayoutFacts(id="po-7", gross_amount=D("262.00"), fee_amount=D("62.50"), net_amount=D("199.50"),
                     arrival_date=ARRIVAL)
PAYS = [DepositPayment(payment_id="p1", amount=D("200.00"), qbo_payment_id="98"),
        DepositPayment(payment_id="p2", amount=D("62.00"), qbo_payment_id="120")]
ON = Preferences(create_deposits=True, deposit_account_id="35", fee_account_id="60")


def test_deposit_body_linked_lines_fee_line_and_memo() -> None:
    plan = build_deposit(PAYOUT, PAYS, "35", "60")
    body = plan.body
    assert plan.total_amt == D("199.50") == PAYOUT.net_amount
    assert body["DepositToAccountRef"] == {"value": "35"}
    assert "po-7" in body["PrivateNote"] and body["PrivateNote"] == deposit_memo("po-7")
    linked, fee = body["Line"][:2], body["Line"][2]
    assert linked[0] == {"Amount": D("200.00"), "LinkedTxn": [{"TxnId": "98", "TxnType": "Payment", "TxnLineId": "0"}]}
    assert all("DetailType" not in line and "AccountRef" not in line for line in linked)
    assert fee == {"Amount": D("-62.50"), "DetailType": "DepositLineDetail",
                   "DepositLineDetail": {"AccountRef": {"value": "60"}}}
    assert sum(line["Amount"] for line in body["Line"]) == D("199.50")


def test_deposit_is_dated_the_payout_arrival_date() -> None:
    """The Deposit's TxnDate is the day the money arrives, always sent (PRODUCT §4; qbo-reference §15.4)."""
    assert build_deposit(PAYOUT, PAYS, "35", "60").body["TxnDate"] == "2027-01-04"
    undated = PAYOUT.model_copy(update={"arrival_date": None})
    with pytest.raises(DepositError, match="no arrival_date"):
        build_deposit(undated, PAYS, "35", "60")
    assert decide_deposit(undated, PAYS, ON).action == DepositAction.NEEDS_ATTENTION


def test_no_fee_means_no_fee_line_and_no_fee_account_needed() -> None:
    payout = PayoutFacts(id="po-8", gross_amount=D("262.00"), fee_amount=D("0"), net_amount=D("262.00"),
                         arrival_date=ARRIVAL)
    plan = build_deposit(payout, PAYS, "35", None)
    assert len(plan.body["Line"]) == 2 and plan.total_amt == D("262.00")


@pytest.mark.parametrize(("payments", "fee_account", "match"), [
    ([PAYS[0]], "60", "add up to 200.00"),
    ([PAYS[0], PAYS[0]], "60", "twice"),
    ([PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"))], "60", "not yet posted"),
    (PAYS, None, "no fee account"),
    ([], "60", "no payments"),
])
def test_deposit_that_cannot_match_is_refused(payments: list[DepositPayment], fee_account: str | None,
                                              match: str) -> None:
    with pytest.raises(DepositError, match=match):
        build_deposit(PAYOUT, payments, "35", fee_account)


def test_negative_net_is_refused() -> None:
    payout = PayoutFacts(id="po-9", gross_amount=D("10.00"), fee_amount=D("12.00"), net_amount=D("-2.00"),
                         arrival_date=ARRIVAL)
    with pytest.raises(DepositError, match="negative"):
        build_deposit(payout, [DepositPayment(payment_id="p", amount=D("10.00"), qbo_payment_id="1")], "35", "60")


def test_payout_net_must_be_gross_minus_fee() -> None:
    with pytest.raises(ValueError, match="net"):
        PayoutFacts(id="x", gross_amount=D("10.00"), fee_amount=D("1.00"), net_amount=D("9.01"))


@pytest.mark.parametrize(("prefs", "payments", "kw", "action"), [
    (Preferences(), PAYS, {}, DepositAction.NOT_SYNCED),
    (ON, PAYS, {"existing_qbo_deposit_id": "121"}, DepositAction.ALREADY_DEPOSITED),
    (ON, [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="pending")], {}, DepositAction.WAIT),
    # issue 12: a payout waits for a payment that needs attention (a retry can still post it)
    (ON, [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="needs_attention")], {},
     DepositAction.WAIT),
    (ON, [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="not_synced")], {},
     DepositAction.CREATE_OTHER_INCOME_ACCOUNT),
    (Preferences(create_deposits=True, deposit_account_id="35"), PAYS, {}, DepositAction.CREATE_FEE_ACCOUNT),
    (ON, PAYS, {}, DepositAction.CREATE),
    (ON, [PAYS[0]], {}, DepositAction.NEEDS_ATTENTION),
])
def test_decide_deposit(prefs: Preferences, payments: list[DepositPayment], kw: dict[str, str],
                        action: DepositAction) -> None:
    assert decide_deposit(PAYOUT, payments, prefs, **kw).action == action


def test_deposit_request_id_stable() -> None:
    assert deposit_request_id("po-7") == deposit_request_id("po-7") != deposit_request_id("po-8")


# --- issue 12: waiting, platform invoices, payments recorded straight to a bank ------------------------

ON_INCOME = ON.model_copy(update={"other_income_account_id": "79"})


def test_waiting_reason_names_each_payment_and_why() -> None:
    payments = [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="needs_attention",
                                        attention_reason="customer 7 is inactive in QBO")]
    decision = decide_deposit(PAYOUT, payments, ON)
    assert decision.action == DepositAction.WAIT
    assert decision.reason and "p2 (needs attention: customer 7 is inactive in QBO)" in decision.reason
    assert "p1" not in decision.reason


def test_platform_invoice_payment_becomes_an_other_income_line() -> None:
    payments = [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="not_synced")]
    assert decide_deposit(PAYOUT, payments, ON_INCOME).action == DepositAction.CREATE
    plan = build_deposit(PAYOUT, payments, "35", "60", other_income_account_id="79")
    assert plan.total_amt == PAYOUT.net_amount and plan.note is None
    income = [line for line in plan.body["Line"] if line.get("DepositLineDetail", {}).get("AccountRef") == {"value": "79"}]
    assert [line["Amount"] for line in income] == [D("62.00")] and "p2" in income[0]["Description"]
    assert sum(line["Amount"] for line in plan.body["Line"]) == D("199.50")


def test_platform_payment_without_income_account_is_refused() -> None:
    payments = [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), status="not_synced")]
    with pytest.raises(DepositError, match="other_income_account_id"):
        build_deposit(PAYOUT, payments, "35", "60")


def test_payment_recorded_to_a_bank_is_left_out_and_said_so() -> None:
    payments = [PAYS[0], DepositPayment(payment_id="p2", amount=D("62.00"), qbo_payment_id="120",
                                        deposited_to_bank=True)]
    plan = build_deposit(PAYOUT, payments, "35", "60")
    assert plan.total_amt == PAYOUT.net_amount - D("62.00") == D("137.50")
    assert all(line.get("LinkedTxn", [{}])[0].get("TxnId") != "120" for line in plan.body["Line"])
    assert plan.note and "p2 (62.00)" in plan.note and "199.50" in plan.note


def test_only_a_fee_left_after_bank_payments_needs_a_person() -> None:
    payments = [DepositPayment(payment_id="p1", amount=D("200.00"), qbo_payment_id="98", deposited_to_bank=True),
                DepositPayment(payment_id="p2", amount=D("62.00"), qbo_payment_id="120", deposited_to_bank=True)]
    decision = decide_deposit(PAYOUT, payments, ON)
    assert decision.action == DepositAction.NEEDS_ATTENTION and decision.code == "deposit_cannot_balance"
    assert decision.reason and "-62.50" in decision.reason and "cannot record" in decision.reason
