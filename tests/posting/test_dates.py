"""TxnDates reach QBO (PRODUCT.md §4 "Dates"; qbo-reference §15.4): a Payment is dated the day the customer
paid in the partner's time zone, a Deposit the payout's arrival date, never the day of posting. Against the
emulator over HTTP (which keeps the TxnDate it is sent) and real PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from qbo.models import Deposit, Payment
from tests.posting.conftest import World

# Recorded on New Year's Eve in Los Angeles; the posting runs on another day (today, whenever the suite runs).
NYE_LA = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-8)))


@pytest.mark.parametrize(("time_zone", "expected"), [
    (None, date(2026, 12, 31)),  # no preference stored: QBO's own zone, Los Angeles
    ("America/Los_Angeles", date(2026, 12, 31)),
    ("America/New_York", date(2027, 1, 1)),  # the same instant is already Jan 1, 02:30 there
])
async def test_payment_txn_date_is_the_day_paid_in_the_partner_zone(world: World, time_zone: str | None,
                                                                    expected: date) -> None:
    if time_zone:
        await world.set_prefs(time_zone=time_zone)
    inv = await world.new_invoice("80.00")
    pid = await world.pay(inv, "80.00", paid_at=NYE_LA)
    assert (await world.post()).posted == 1
    posted = await world.company.read("Payment", (await world.payment(pid))["qbo_payment_id"])
    assert isinstance(posted, Payment) and posted.TxnDate == expected


async def test_deposit_txn_date_is_the_payout_arrival_date(world: World) -> None:
    await world.set_prefs(create_deposits=True, deposit_account_id=await world.bank_account(),
                          time_zone="America/New_York")
    inv = await world.new_invoice("120.00")
    pid = await world.pay(inv, "120.00", paid_at=NYE_LA)
    payout = await world.payout([pid], "2.40", arrival=date(2027, 1, 4))
    assert (await world.post()).posted == 1
    assert (await world.deposit()).deposited == 1
    dep = await world.company.read("Deposit", (await world.payout_row(payout))["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TxnDate == date(2027, 1, 4)
    pay = await world.company.read("Payment", (await world.payment(pid))["qbo_payment_id"])
    assert isinstance(pay, Payment) and pay.TxnDate == date(2027, 1, 1)
