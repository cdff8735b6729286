"""Hypothesis properties of the rules (issue 5, issue 7):

- applying a change twice equals applying it once;
- applying a set of changes to one object in any order converges to the state the highest SyncToken gives
  (a tombstone is final);
- platform-created records are never touched;
- a deposit's total equals the net payout to the cent;
- no function ever yields a float.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from rules.customers import CustomerDecision, decide_customer
from rules.deposits import DepositError, DepositPayment, PayoutFacts, build_deposit
from rules.facts import (
    InvoiceStatus,
    PlatformCustomer,
    PlatformInvoice,
    QboCustomerFacts,
    QboInvoiceFacts,
    QboTombstone,
)
from rules.invoices import InvoiceDecision, decide_invoice
from rules.posting import build_payment, decide_platform_void, decide_posting, payment_ref_num
from rules.preferences import Preferences
from tests.rules.factories import payment

PROPS = settings(max_examples=150, deadline=None)
T0 = datetime(2026, 1, 1, tzinfo=UTC)

money = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
positive_money = st.decimals(min_value=Decimal("0.01"), max_value=10**6, places=2)
tokens = st.integers(min_value=0, max_value=50)
instants = st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s))


@st.composite
def qbo_invoices(draw: st.DrawFn, token: int | None = None) -> QboInvoiceFacts:
    voided = draw(st.booleans())
    total = Decimal("0.00") if voided else draw(money)
    balance = Decimal("0.00") if voided else draw(st.decimals(min_value=0, max_value=total, places=2))
    return QboInvoiceFacts(
        qbo_id="130", sync_token=draw(tokens) if token is None else token, doc_number=draw(st.sampled_from(["1", "2"])),
        customer_qbo_id=draw(st.sampled_from(["58", "59"])), total=total, balance=balance,
        currency=draw(st.sampled_from(["USD", "CAD"])), voided=voided, last_updated=draw(instants),
        due_date=draw(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2026, 12, 31)))),
    )


@st.composite
def platform_invoices(draw: st.DrawFn, source: str = "qbo") -> PlatformInvoice:
    amount = draw(money)
    has_payments = draw(st.booleans())
    return PlatformInvoice(
        id="i-1", source=source, qbo_id="130" if source == "qbo" else None,
        qbo_sync_token=draw(st.one_of(st.none(), tokens)) if source == "qbo" else None,
        qbo_customer_id="58", doc_number="1", amount=amount,
        balance=draw(st.decimals(min_value=0, max_value=amount, places=2)),
        currency="USD", due_date=date(2026, 2, 1), status=draw(st.sampled_from(list(InvoiceStatus))),
        archived=draw(st.booleans()), qbo_deleted=False, has_platform_payments=has_payments,
        unposted_payments_total=draw(money) if has_payments else Decimal("0.00"),
    )


@st.composite
def qbo_customers(draw: st.DrawFn) -> QboCustomerFacts:
    return QboCustomerFacts(qbo_id="58", sync_token=draw(tokens), display_name=draw(st.sampled_from(["A", "B"])),
                            email=draw(st.sampled_from([None, "a@x.test"])), active=draw(st.booleans()),
                            last_updated=draw(instants))


@st.composite
def platform_customers(draw: st.DrawFn, source: str = "qbo") -> PlatformCustomer:
    active = draw(st.booleans())
    return PlatformCustomer(id="c-1", source=source, qbo_id="58" if source == "qbo" else None,
                            qbo_sync_token=draw(st.one_of(st.none(), tokens)) if source == "qbo" else None,
                            name="A", archived=not active, qbo_active=active)


TOMB_I = QboTombstone(entity="Invoice", qbo_id="130", last_updated=T0)
TOMB_C = QboTombstone(entity="Customer", qbo_id="58", last_updated=T0)


def apply_invoice(p: PlatformInvoice | None, d: InvoiceDecision) -> PlatformInvoice | None:
    """What the apply activity does: upsert `state`, keeping platform-side columns."""
    if d.state is None:
        return p
    keep = {"id": p.id, "unposted_payments_total": p.unposted_payments_total,
            "has_platform_payments": p.has_platform_payments} if p else {"id": "new"}
    return PlatformInvoice(**d.state.model_dump(exclude={"qbo_balance", "qbo_total"}), **keep)


def apply_customer(p: PlatformCustomer | None, d: CustomerDecision) -> PlatformCustomer | None:
    if d.state is None:
        return p
    return PlatformCustomer(**d.state.model_dump(), id=p.id if p else "new")


def fold(decide: Any, apply: Any, start: Any, changes: list[Any]) -> Any:
    state = start
    for change in changes:
        state = apply(state, decide(state, change))
    return state


# --- Idempotence ----------------------------------------------------------------------------------------

@PROPS
@given(p=st.one_of(st.none(), platform_invoices()), change=st.one_of(qbo_invoices(), st.just(TOMB_I)))
def test_invoice_change_applied_twice_equals_once(p: PlatformInvoice | None, change: Any) -> None:
    once = apply_invoice(p, decide_invoice(p, change))
    twice = apply_invoice(once, decide_invoice(once, change))
    assert twice == once


@PROPS
@given(p=st.one_of(st.none(), platform_customers()), change=st.one_of(qbo_customers(), st.just(TOMB_C)))
def test_customer_change_applied_twice_equals_once(p: PlatformCustomer | None, change: Any) -> None:
    once = apply_customer(p, decide_customer(p, change))
    assert apply_customer(once, decide_customer(once, change)) == once


# --- Convergence ----------------------------------------------------------------------------------------

@PROPS
@given(p=st.one_of(st.none(), platform_invoices()),
       changes=st.lists(qbo_invoices(), min_size=1, max_size=6, unique_by=lambda c: c.sync_token),
       data=st.data())
def test_invoice_changes_in_any_order_converge_to_highest_token(p: Any, changes: list[Any], data: Any) -> None:
    order = data.draw(st.permutations(changes))
    newest = max(changes, key=lambda c: c.sync_token)
    expected = apply_invoice(p, decide_invoice(p, newest))
    if p is not None and p.qbo_sync_token is not None and p.qbo_sync_token > newest.sync_token:
        expected = p  # everything is older than what the platform holds
    assert fold(decide_invoice, apply_invoice, p, order) == expected


@PROPS
@given(p=st.one_of(st.none(), platform_customers()),
       changes=st.lists(qbo_customers(), min_size=1, max_size=6, unique_by=lambda c: c.sync_token),
       data=st.data())
def test_customer_changes_in_any_order_converge_to_highest_token(p: Any, changes: list[Any], data: Any) -> None:
    order = data.draw(st.permutations(changes))
    newest = max(changes, key=lambda c: c.sync_token)
    expected = apply_customer(p, decide_customer(p, newest))
    if p is not None and p.qbo_sync_token is not None and p.qbo_sync_token > newest.sync_token:
        expected = p
    assert fold(decide_customer, apply_customer, p, order) == expected


@PROPS
@given(p=platform_invoices(), changes=st.lists(qbo_invoices(), max_size=5), data=st.data())
def test_invoice_tombstone_is_final_in_any_order(p: PlatformInvoice, changes: list[Any], data: Any) -> None:
    order = data.draw(st.permutations([*changes, TOMB_I]))
    final = fold(decide_invoice, apply_invoice, p, order)
    assert final is not None and final.archived and final.qbo_deleted
    for change in changes:  # nothing that arrives afterwards writes anything
        assert decide_invoice(final, change).state is None


@PROPS
@given(p=platform_customers(), changes=st.lists(qbo_customers(), max_size=5), data=st.data())
def test_customer_tombstone_is_final_in_any_order(p: PlatformCustomer, changes: list[Any], data: Any) -> None:
    final = fold(decide_customer, apply_customer, p, data.draw(st.permutations([*changes, TOMB_C])))
    assert final is not None and final.archived and final.qbo_deleted
    assert all(decide_customer(final, c).state is None for c in changes)


# --- Platform-created records ---------------------------------------------------------------------------

@PROPS
@given(p=platform_invoices(source="platform"), c=platform_customers(source="platform"),
       ichange=st.one_of(qbo_invoices(), st.just(TOMB_I)), cchange=st.one_of(qbo_customers(), st.just(TOMB_C)))
def test_platform_created_records_are_never_touched(p: PlatformInvoice, c: PlatformCustomer,
                                                    ichange: Any, cchange: Any) -> None:
    for decision in (decide_invoice(p, ichange), decide_customer(c, cchange)):
        assert decision.action == "skip_platform_owned" and decision.state is None
    assert decide_posting(payment(), p, None, None).action == "not_synced"
    assert decide_platform_void(p).action in ("void_locally", "already_void", "reject")


# --- Deposits -------------------------------------------------------------------------------------------

DEPOSIT_MISTAKES = {
    # what is wrong with the payout (None: nothing) → words of build_deposit's refusal
    None: None,
    "fee_over_gross": "is negative",
    "payments_short_of_gross": "gross is",
    "fee_without_fee_account": "no fee account",
    "payment_not_in_qbo": "not yet posted",
    "payment_twice": "lists a payment twice",
}


@PROPS
@given(amounts=st.lists(positive_money, min_size=1, max_size=40), mistake=st.sampled_from(list(DEPOSIT_MISTAKES)),
       data=st.data())
def test_deposit_total_equals_net_to_the_cent(amounts: list[Decimal], mistake: str | None, data: Any) -> None:
    """A payout whose parts add up gets a Deposit of exactly its net; one whose parts don't is refused (no body
    that QBO would total differently)."""
    gross = sum(amounts, Decimal("0.00"))
    pays = [DepositPayment(payment_id=f"p{i}", amount=a, qbo_payment_id=str(100 + i)) for i, a in enumerate(amounts)]
    fee_account: str | None = "60"
    if mistake == "fee_over_gross":
        fee = data.draw(st.decimals(min_value=gross + Decimal("0.01"), max_value=gross * 2 + 1, places=2))
    else:
        fee = data.draw(st.decimals(min_value=0, max_value=gross, places=2))
    if mistake == "payments_short_of_gross":
        pays = pays[:-1] + [pays[-1].model_copy(update={"amount": pays[-1].amount + Decimal("0.01")})]
    elif mistake == "fee_without_fee_account":
        fee, fee_account = max(fee, Decimal("0.01")), None  # gross ≥ 0.01, so still ≤ gross
    elif mistake == "payment_not_in_qbo":
        pays[-1] = pays[-1].model_copy(update={"qbo_payment_id": None, "status": "pending"})
    elif mistake == "payment_twice":
        pays.append(pays[0])
        gross += pays[0].amount
        fee = min(fee, gross)
    payout = PayoutFacts(id="po", gross_amount=gross, fee_amount=fee, net_amount=gross - fee,
                         arrival_date=date(2027, 1, 4))
    if mistake is not None:
        with pytest.raises(DepositError, match=DEPOSIT_MISTAKES[mistake]):
            build_deposit(payout, pays, "35", fee_account)
        return
    plan = build_deposit(payout, pays, "35", fee_account)
    assert plan.total_amt == payout.net_amount
    assert sum((line["Amount"] for line in plan.body["Line"]), Decimal(0)) == payout.net_amount
    assert all(line["Amount"].as_tuple().exponent == -2 for line in plan.body["Line"])
    assert_no_float(plan.body)


# --- No floats anywhere ---------------------------------------------------------------------------------

def assert_no_float(obj: Any) -> None:
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    assert not isinstance(obj, float), obj
    if isinstance(obj, dict):
        for value in obj.values():
            assert_no_float(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            assert_no_float(value)


@PROPS
@given(p=st.one_of(st.none(), platform_invoices()), change=st.one_of(qbo_invoices(), st.just(TOMB_I)),
       c=st.one_of(st.none(), platform_customers()), cchange=qbo_customers(),
       amount=st.floats(min_value=0.01, max_value=10**6).map(lambda f: round(f, 2)))
def test_no_function_yields_a_float(p: Any, change: Any, c: Any, cchange: Any, amount: float) -> None:
    """Even when a float sneaks in as input, what comes out is Decimal."""
    pay = payment(amount=amount)
    assert isinstance(pay.amount, Decimal)
    outputs: list[Any] = [decide_invoice(p, change), decide_customer(c, cchange)]
    if p is not None:
        outputs += [decide_posting(pay, p, change, True), decide_platform_void(p)]
    outputs.append(build_payment(pay, qbo_customer_id="58", qbo_invoice_id="130", prefs=Preferences()))
    for out in outputs:
        assert_no_float(out)


payment_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True), st.text(min_size=1, max_size=80))


@PROPS
@given(pid=payment_ids, other=payment_ids, suffix=st.text(min_size=1, max_size=10))
def test_payment_ref_num_fits_qbo_and_is_injective_on_short_ids(pid: str, other: str, suffix: str) -> None:
    ref = payment_ref_num(pid)
    assert 1 <= len(ref) <= 21 and ref.isascii()
    assert payment_ref_num(pid) == ref  # the natural key: the same on every call
    # Different ids, arbitrary or sharing a prefix (which a truncation would merge), get different refs.
    for a, b in ((pid, other), (pid, pid + suffix), (pid + suffix, pid + suffix + suffix)):
        if a != b:
            assert payment_ref_num(a) != payment_ref_num(b), (a, b)
    if len(pid) <= 20 and ref == pid:
        assert len(payment_ref_num(pid + "-" * (21 - len(pid)))) == 21  # long ids never look like short ones
