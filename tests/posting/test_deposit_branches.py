"""Deposit, account and void branches no other test reaches (issue 18): a Deposit whose total differs from
the net payout, a Deposit QBO refuses, find_deposit choosing among duplicates, the fee account when QBO
only has an inactive one of that name, and voiding a platform invoice refused by QBO's live state or met by
a 5010. Real PostgreSQL and emulator; what QBO answers is what the emulator really answers."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from activities.accounts import ensure_fee_account
from qbo.errors import QboStaleObject, QboValidationError
from qbo.models import Deposit
from rules.deposits import deposit_memo, deposit_request_id
from rules.preferences import FEE_ACCOUNT_NAME
from services.void import void_invoice_in_qbo
from store import posting_repo
from tests.posting.conftest import World

D = Decimal


async def _posted_payout(world: World, fee: str = "1.00") -> tuple[str, str]:
    """Deposits on to a bank, one posted payment of 40.00 and its payout → (payout id, bank id)."""
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    pid = await world.pay(await world.new_invoice("40.00"), "40.00")
    assert (await world.post()).posted == 1
    return await world.payout([pid], fee), bank


async def _other_deposit(world: World, bank: str, amount: str, request_id: str, memo: str | None = None) -> Deposit:
    """A Deposit a person (or anything else) made in QBO: one income line into the bank."""
    income = next(a.Id for a in await world.company.find("Account", [("AccountType", "=", "Income")]))
    body: dict[str, Any] = {"DepositToAccountRef": {"value": bank}, "Line": [{
        "Amount": D(amount), "DetailType": "DepositLineDetail",
        "DepositLineDetail": {"AccountRef": {"value": income}}}]}
    if memo:
        body["PrivateNote"] = memo
    dep = await world.company.create("Deposit", body, request_id)
    assert isinstance(dep, Deposit)
    return dep


async def _attention(world: World, payout: str) -> Any:
    row = await world.payout_row(payout)
    assert row["status"] == "needs_attention", dict(row)
    logged = await world.pool.fetchval("SELECT reason FROM sync_log WHERE partner_id = $1 AND kind = "
                                       "'needs_attention' AND platform_id = $2", world.partner, payout)
    assert logged == row["attention_reason"]
    return row


async def test_a_deposit_whose_total_differs_from_the_net_needs_attention(world: World) -> None:
    """QBO answers the create with a Deposit of another total (here: the payout's requestid was used before
    for another Deposit, and QBO replays that answer, qbo-reference §7.5). The payout is not marked
    deposited: it needs attention, naming both totals, with the Deposit's id kept for the person."""
    payout, bank = await _posted_payout(world)
    other = await _other_deposit(world, bank, "12.34", deposit_request_id(payout, 0))
    summary = await world.deposit()
    assert (summary.deposited, summary.needs_attention) == (0, 1)
    row = await _attention(world, payout)
    assert row["attention_code"] == "deposit_mismatch" and row["qbo_deposit_id"] == other.Id
    assert "TotalAmt 12.34 differs from the expected 39.00" in row["attention_reason"]


async def test_a_deposit_qbo_refuses_needs_attention(world: World) -> None:
    """The deposit account is gone from QBO (an Id QBO doesn't know): QBO refuses the Deposit, and the
    payout needs attention with QBO's reason; nothing is retried blindly, nothing created."""
    payout, _ = await _posted_payout(world)
    await world.set_prefs(**{**await world.prefs(), "deposit_account_id": "99999"})
    summary = await world.deposit()
    assert (summary.deposited, summary.needs_attention) == (0, 1)
    row = await _attention(world, payout)
    assert row["attention_code"] == "account_inactive"  # rules/attention.py: 2500 clears when the account does
    assert row["attention_reason"].startswith("invalid reference (2500)") and "DepositToAccountRef=99999" in \
        row["attention_reason"]
    assert await world.company.find("Deposit", [("PrivateNote", "=", deposit_memo(payout))]) == []


async def test_find_deposit_takes_the_oldest_of_duplicates(world: World) -> None:
    """A payout sent before (its requestid recorded) finds its Deposit by memo. With two Deposits carrying
    the memo (a person copied it), the oldest is the payout's: recorded, nothing created."""
    payout, bank = await _posted_payout(world)
    await posting_repo.record_deposit_attempt(world.pool, payout, deposit_request_id(payout, 0))
    first = await _other_deposit(world, bank, "39.00", uuid.uuid4().hex, memo=deposit_memo(payout))
    second = await _other_deposit(world, bank, "39.00", uuid.uuid4().hex, memo=deposit_memo(payout))
    assert int(first.Id) < int(second.Id)
    creates = (await world.ops()).get("create", 0)
    summary = await world.deposit()
    assert summary.deposited == 1
    row = await world.payout_row(payout)
    assert (row["status"], row["qbo_deposit_id"]) == ("deposited", first.Id)
    assert (await world.ops()).get("create", 0) == creates


async def test_the_fee_account_when_qbo_has_only_an_inactive_one_of_that_name(world: World) -> None:
    """QBO keeps an inactive account's name (this company does not add " (deleted)"), so the fee account
    can't be created beside it (6240): the lookup never takes the inactive one, and the payout needs
    attention asking to reactivate it or choose another."""
    await world.emu.config(world.realm, inactive_name_suffix=False)
    try:
        old = await world.company.create("Account", {"Name": FEE_ACCOUNT_NAME, "AccountType": "Expense"},
                                         uuid.uuid4().hex)
        await world.company.sparse_update("Account", {"Id": old.Id, "SyncToken": old.SyncToken, "Active": False},
                                          uuid.uuid4().hex)
        with pytest.raises(QboValidationError) as refused:
            await ensure_fee_account(world.company)
        assert refused.value.code == "6240"
        payout, _ = await _posted_payout(world, fee="2.50")
        summary = await world.deposit()
    finally:
        await world.emu.config(world.realm, inactive_name_suffix=True)
    assert (summary.deposited, summary.needs_attention) == (0, 1)
    row = await _attention(world, payout)
    assert row["attention_code"] == "account_inactive"
    assert FEE_ACCOUNT_NAME in row["attention_reason"] and "reactivate it" in row["attention_reason"]
    assert (await world.prefs()).get("fee_account_id") is None


async def test_void_refused_when_qbo_already_has_a_payment_on_the_invoice(world: World) -> None:
    """The platform still shows the invoice open, but QBO has a payment applied (not synced yet): the live
    read refuses the void, and neither side changes."""
    inv = await world.new_invoice("75.00")
    live = await world.qbo_invoice(inv)
    await world.company.create("Payment", {
        "CustomerRef": live.CustomerRef.wire(), "TotalAmt": D("10.00"),
        "Line": [{"Amount": D("10.00"), "LinkedTxn": [{"TxnId": live.Id, "TxnType": "Invoice"}]}]}, uuid.uuid4().hex)
    result = await void_invoice_in_qbo(world.pool, world.api, world.partner, inv)
    assert (result.action, result.voided) == ("reject", False)
    assert "balance 65.00 of 75.00" in result.reason
    assert not (await world.qbo_invoice(inv)).is_voided
    assert await world.pool.fetchval("SELECT status FROM invoices WHERE id = $1", inv) == "open"


class _ChangedBeforeVoid:
    """The real client; before each of the first `times` voids a bookkeeper edits the invoice in QBO, so the
    void carries a SyncToken QBO has moved past and QBO itself answers 5010."""

    def __init__(self, api: Any, times: int) -> None:
        self.api, self.times, self.voids = api, times, 0

    def company(self, partner_id: str) -> Any:
        real, outer = self.api.company(partner_id), self

        class Company:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            async def void(self, entity, id_, sync_token, request_id):
                outer.voids += 1
                if outer.voids <= outer.times:
                    await real.sparse_update("Invoice", {"Id": id_, "SyncToken": sync_token,
                                                         "PrivateNote": f"edit {outer.voids}"}, uuid.uuid4().hex)
                return await real.void(entity, id_, sync_token, request_id)

        return Company()


async def test_void_met_by_5010_rereads_and_voids_once_more(world: World) -> None:
    inv = await world.new_invoice("75.00")
    changed = _ChangedBeforeVoid(world.api, times=1)
    result = await void_invoice_in_qbo(world.pool, changed, world.partner, inv)
    assert result.voided and changed.voids == 2
    live = await world.qbo_invoice(inv)
    assert live.is_voided and live.SyncToken == "2"  # created 0, the bookkeeper's edit 1, our void 2
    row = await world.pool.fetchrow("SELECT status, qbo_sync_token FROM invoices WHERE id = $1", inv)
    assert row["status"] == "void" and row["qbo_sync_token"] == int(live.SyncToken)


async def test_void_met_by_5010_twice_gives_up_and_changes_nothing(world: World) -> None:
    inv = await world.new_invoice("75.00")
    changed = _ChangedBeforeVoid(world.api, times=2)
    with pytest.raises(QboStaleObject):
        await void_invoice_in_qbo(world.pool, changed, world.partner, inv)
    assert changed.voids == 2, "one re-read and retry, no third attempt"
    assert not (await world.qbo_invoice(inv)).is_voided
    assert await world.pool.fetchval("SELECT status FROM invoices WHERE id = $1", inv) == "open"
