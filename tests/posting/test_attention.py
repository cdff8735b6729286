"""Issue 12: `needs_attention` is never a dead end. A parked payment comes back by itself when its cause
clears; a payout waits for its payments; a payout with a payment on a platform-created invoice, or with a
payment QBO recorded straight to a bank, still gets a Deposit that keeps the books equal to the bank."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbo.models import Customer, Deposit
from rules.deposits import deposit_memo
from rules.posting import payment_ref_num
from rules.preferences import OTHER_INCOME_ACCOUNT_NAME
from tests.posting.conftest import World, no_mismatches

D = Decimal


class _InactiveCustomers:
    """The real client, except that every Customer it finds reads as inactive: what the posting sees while
    QBO still has the customer inactive and the platform mirror already says active (the requeue's cheap
    check and the live check disagree). The real inactivation is tested in test_conflicts."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def company(self, partner_id: str) -> Any:
        real = self.api.company(partner_id)

        class Company:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            async def find(self, entity, where, include_inactive=False):
                found = await real.find(entity, where, include_inactive=include_inactive)
                return [o.model_copy(update={"Active": False}) if isinstance(o, Customer) else o for o in found]

        return Company()


async def _log_rows(world: World, pid: str) -> list[str]:
    return [r["reason"] for r in await world.pool.fetch(
        "SELECT reason FROM sync_log WHERE partner_id = $1 AND platform_id = $2 AND kind = 'needs_attention'",
        world.partner, pid)]


async def _reactivated_in_mirror(world: World, invoice_id: str) -> None:
    """What the sync does when the bookkeeper reactivates the customer: qbo_active, and a new version."""
    await world.pool.execute(
        "UPDATE customers SET qbo_active = true, archived = false, updated_at = now() WHERE partner_id = $1"
        " AND qbo_id = (SELECT qbo_customer_id FROM invoices WHERE id = $2)", world.partner, invoice_id)


async def _parked_on_inactive_customer(world: World) -> tuple[str, str]:
    inv = await world.new_invoice("80.00")
    pid = await world.pay(inv, "30.00")
    assert (await world.post(_InactiveCustomers(world.api))).needs_attention == 1
    row = await world.payment(pid)
    assert (row["status"], row["attention_code"]) == ("needs_attention", "customer_inactive")
    return inv, pid


async def test_customer_reactivated_payment_posts_by_itself_and_payout_waits_for_it(world: World) -> None:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    other_inv = await world.new_invoice("50.00")
    other = await world.pay(other_inv, "50.00")
    assert (await world.post()).posted == 1
    inv, pid = await _parked_on_inactive_customer(world)
    assert (await world.post()).posted == 0  # the parked one's cause has not cleared: left alone
    assert (await world.payment(pid))["status"] == "needs_attention"
    payout = await world.payout([other, pid], "2.40")

    waiting = await world.deposit()
    assert (waiting.deposited, waiting.waiting, waiting.needs_attention) == (0, 1, 0)
    row = await world.payout_row(payout)
    assert row["status"] == "pending" and pid in row["waiting_reason"] and "inactive" in row["waiting_reason"]

    await _reactivated_in_mirror(world, inv)
    summary = await world.post()  # no dashboard retry: the workflow's own posting step
    assert (summary.posted, summary.needs_attention) == (1, 0)
    assert len(await world.qbo_payments(payment_ref_num(pid))) == 1
    assert await _log_rows(world, pid) != [] and len(await _log_rows(world, pid)) == 1

    assert (await world.deposit()).deposited == 1
    row = await world.payout_row(payout)
    assert row["status"] == "deposited" and row["waiting_reason"] is None
    dep = await world.company.read("Deposit", row["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D("77.60") == row["net_amount"]
    await no_mismatches(world)


async def test_cause_not_cleared_goes_back_without_a_second_log_row_or_a_write(world: World) -> None:
    _, pid = await _parked_on_inactive_customer(world)
    inv = (await world.payment(pid))["invoice_id"]
    await _reactivated_in_mirror(world, inv)  # the mirror says active, QBO still says inactive
    before = await world.ops()
    summary = await world.post(_InactiveCustomers(world.api))
    assert (summary.posted, summary.needs_attention) == (0, 1)
    after = await world.ops()
    assert after.get("batch", 0) == before.get("batch", 0) and after.get("create", 0) == before.get("create", 0)
    row = await world.payment(pid)
    assert (row["status"], row["retry_generation"]) == ("needs_attention", 1)
    assert len(await _log_rows(world, pid)) == 1
    # nothing changed since: the next run does not even look at it
    reads = (await world.ops()).get("query", 0)
    assert (await world.post(_InactiveCustomers(world.api))).needs_attention == 0
    assert (await world.ops()).get("query", 0) == reads
    assert (await world.payment(pid))["retry_generation"] == 1


async def test_changed_in_qbo_is_never_retried_by_the_workflow(world: World) -> None:
    _, pid = await _parked_on_inactive_customer(world)
    await world.pool.execute("UPDATE payments SET attention_code = 'changed_in_qbo' WHERE id = $1", pid)
    await _reactivated_in_mirror(world, (await world.payment(pid))["invoice_id"])
    assert (await world.post()).posted == 0
    assert (await world.payment(pid))["status"] == "needs_attention"
    assert await world.qbo_payments(payment_ref_num(pid)) == []


async def _platform_payment(world: World, amount: str) -> str:
    cust = await world.pool.fetchval("SELECT id FROM customers WHERE partner_id = $1 LIMIT 1", world.partner)
    iid = f"i-plat-{amount.replace('.', '')}-{len(world.customers)}"
    await world.pool.execute(
        "INSERT INTO invoices (id, partner_id, source, customer_id, amount, balance, currency, status)"
        " VALUES ($1, $2, 'platform', $3, $4, $4, 'USD', 'open') ON CONFLICT DO NOTHING",
        iid, world.partner, cust, D(amount))
    pid = await world.pay(iid, amount)
    return pid


async def test_payout_with_a_platform_invoice_payment_deposits_the_net(world: World) -> None:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    inv = await world.new_invoice("120.00")
    qbo_pay = await world.pay(inv, "120.00")
    plat_pay = await _platform_payment(world, "45.50")
    summary = await world.post()
    assert summary.posted == 1
    assert (await world.payment(plat_pay))["status"] == "not_synced"
    payout = await world.payout([qbo_pay, plat_pay], "4.95")

    assert (await world.deposit()).deposited == 1
    row = await world.payout_row(payout)
    assert row["status"] == "deposited" and row["deposit_note"] is None
    dep = await world.company.read("Deposit", row["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D("160.55") == row["net_amount"]
    income_id = (await world.prefs())["other_income_account_id"]
    income = await world.company.read("Account", income_id)
    assert income.Name == OTHER_INCOME_ACCOUNT_NAME and income.AccountType == "Income"
    lines = [ln for ln in dep.Line if ln.DetailType == "DepositLineDetail"
             and (ln.DepositLineDetail or {}).get("AccountRef", {}).get("value") == income_id]
    assert [ln.Amount for ln in lines] == [D("45.50")]
    await no_mismatches(world)

    # a second such payout finds the account by name even when the preference was dropped: no second one
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    other = await world.payout([await _platform_payment(world, "10.00")], "0.00")
    await world.post()  # the posting step settles it not_synced (never sent to QBO)
    assert (await world.deposit()).deposited == 1
    assert (await world.prefs())["other_income_account_id"] == income_id
    found = await world.company.find("Account", [("Name", "=", OTHER_INCOME_ACCOUNT_NAME)])
    assert len(found) == 1
    assert (await world.company.read("Deposit", (await world.payout_row(other))["qbo_deposit_id"])).TotalAmt == D("10.00")


async def test_payment_recorded_to_a_bank_while_deposits_were_off(world: World) -> None:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=False, payment_account_id=bank)
    early = await world.pay(await world.new_invoice("70.00"), "70.00")
    assert (await world.post()).posted == 1
    assert (await world.payment(early))["qbo_deposit_to_account_id"] == bank
    await world.set_prefs(create_deposits=True, deposit_account_id=bank, payment_account_id=bank)
    late = await world.pay(await world.new_invoice("30.00"), "30.00")
    assert (await world.post()).posted == 1
    assert (await world.payment(late))["qbo_deposit_to_account_id"] is None  # Undeposited Funds
    payout = await world.payout([early, late], "1.00")

    assert (await world.deposit()).deposited == 1
    row = await world.payout_row(payout)
    assert row["status"] == "deposited" and row["net_amount"] == D("99.00")
    dep = await world.company.read("Deposit", row["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D("29.00") == row["deposit_total"]
    assert dep.PrivateNote == deposit_memo(payout)
    assert early in row["deposit_note"] and "99.00" in row["deposit_note"]
    listed = await world.pool.fetchval(
        "SELECT count(*) FROM sync_log WHERE platform_id = $1 AND kind = 'info'", payout)
    assert listed == 1
    await no_mismatches(world)


async def test_only_a_fee_left_needs_attention_with_the_reason(world: World) -> None:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=False, payment_account_id=bank)
    early = await world.pay(await world.new_invoice("70.00"), "70.00")
    assert (await world.post()).posted == 1
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    payout = await world.payout([early], "1.00")
    assert (await world.deposit()).needs_attention == 1
    row = await world.payout_row(payout)
    assert row["attention_code"] == "deposit_cannot_balance" and "cannot record" in row["attention_reason"]
    assert early in row["attention_reason"]
    assert await world.company.find("Deposit", [("PrivateNote", "=", deposit_memo(payout))]) == []
