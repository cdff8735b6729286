"""post_payments branches no other test reaches (issue 18): a second run finding the partner's lock taken,
the per-run cap leaving `remaining`, and batch item faults that leave a payment pending (throttled, token,
no code) to be posted by a later run. Real PostgreSQL; the faults are the emulator's
`batch_item_fault_code` switch (every write item of a batch answers that Fault, the request itself 200)."""

from __future__ import annotations

import pytest

from activities import posting
from rules.posting import payment_ref_num
from store import posting_repo
from tests.posting.conftest import World, no_mismatches


async def test_a_second_run_finding_the_lock_taken_does_nothing(world: World) -> None:
    """Two attempts of post_payments for one partner at once (a retry overlapping a slow first attempt): the
    one that can't take the partner's lock posts nothing, sends nothing, and reports the work as remaining;
    the same for create_deposits."""
    await world.set_prefs(create_deposits=True, deposit_account_id=await world.bank_account())
    inv = await world.new_invoice("60.00")
    pids = [await world.pay(inv, "10.00"), await world.pay(inv, "5.00")]
    payout = await world.payout(pids, "1.00")
    before = await world.ops()
    async with posting_repo.partner_lock(world.pool, world.partner, "payments") as held, \
            posting_repo.partner_lock(world.pool, world.partner, "deposits") as held_too:
        assert held and held_too
        summary = await world.post()
        deposits = await world.deposit()
    assert (summary.posted, summary.needs_attention, summary.remaining, summary.qbo_calls) == (0, 0, 2, 0)
    assert deposits.model_dump() == {"deposited": 0, "waiting": 0, "needs_attention": 0}
    assert await world.ops() == before, "a run without the lock called QBO"
    assert [(await world.payment(p))["attempts"] for p in pids] == [0, 0]
    assert (await world.payout_row(payout))["waiting_reason"] is None  # not even looked at
    summary = await world.post()  # the locks released: the next runs post them and deposit the payout
    assert (summary.posted, summary.remaining) == (2, 0)
    assert (await world.deposit()).deposited == 1 and (await world.payout_row(payout))["status"] == "deposited"


async def test_the_per_run_cap_leaves_the_rest_for_the_next_run(world: World, monkeypatch) -> None:
    """At most MAX_PER_RUN payments per run (600; 3 here), oldest first; `remaining` tells the workflow
    there is more, and the next run posts it."""
    monkeypatch.setattr(posting, "MAX_PER_RUN", 3)
    inv = await world.new_invoice("100.00")
    pids = [await world.pay(inv, f"{n}.00") for n in range(1, 6)]
    first = await world.post()
    assert (first.posted, first.remaining) == (3, 2)
    statuses = [(await world.payment(p))["status"] for p in pids]
    assert statuses == ["posted"] * 3 + ["pending"] * 2
    second = await world.post()
    assert (second.posted, second.remaining) == (2, 0)
    assert [len(await world.qbo_payments(payment_ref_num(p))) for p in pids] == [1] * 5
    assert (await world.qbo_invoice(inv)).Balance == 85
    await no_mismatches(world)


@pytest.mark.parametrize("code", ["3001", "3200", ""], ids=["throttled", "token", "no-code"])
async def test_an_item_fault_that_may_pass_leaves_the_payment_pending(world: World, code: str) -> None:
    """A batch item answered with a fault that says nothing about the payment (throttled, a token problem, a
    Fault without a code) leaves it pending: no needs_attention, no log row. The next run, QBO answering
    normally, posts it exactly once."""
    inv = await world.new_invoice("60.00")
    pid = await world.pay(inv, "10.00")
    await world.emu.config(world.realm, batch_item_fault_code=code)
    try:
        summary = await world.post()
    finally:
        await world.emu.config(world.realm, batch_item_fault_code=None)
    assert (summary.posted, summary.needs_attention, summary.remaining) == (0, 0, 1)
    row = await world.payment(pid)
    assert row["status"] == "pending" and row["attempts"] == 1 and row["attention_reason"] is None
    assert not await world.pool.fetchval("SELECT count(*) FROM sync_log WHERE platform_id = $1", pid)
    assert await world.qbo_payments(payment_ref_num(pid)) == []

    again = await world.post()
    assert (again.posted, again.remaining) == (1, 0)
    assert len(await world.qbo_payments(payment_ref_num(pid))) == 1
    assert (await world.qbo_invoice(inv)).Balance == 50
    await no_mismatches(world)
