"""paid_at and arrival_date through the API (PRODUCT.md §4 "Dates", §6): stored, shown in the lists and
GETs, defaulted sensibly, and refused with 422 (changing nothing) when naive, malformed or absurd."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tests.api.conftest import assert_error, qbo_invoice, snapshot


async def test_paid_at_is_stored_as_an_instant_and_listed(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    url = f"/partners/{pid}/invoices/{iid}/payments"
    given = await app_client.post(url, json={"amount": "10.00", "paid_at": "2025-12-31T23:30:00-08:00"})
    assert given.status_code == 201, given.text
    assert datetime.fromisoformat(given.json()["paid_at"]) == datetime(2026, 1, 1, 7, 30, tzinfo=UTC)
    before = datetime.now(UTC)
    default = await app_client.post(url, json={"amount": "10.00"})
    after = datetime.now(UTC)
    assert default.status_code == 201, default.text
    stored = await db_pool.fetchval("SELECT paid_at FROM payments WHERE id = $1", given.json()["id"])
    assert stored == datetime(2026, 1, 1, 7, 30, tzinfo=UTC)  # timestamptz: the instant, not the local text
    listed = {p["id"]: p["paid_at"] for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]}
    assert datetime.fromisoformat(listed[given.json()["id"]]) == stored
    # the default is "when it was recorded": the database's now(), between the two clock readings
    default_at = datetime.fromisoformat(listed[default.json()["id"]])
    assert before.replace(microsecond=0) <= default_at.replace(microsecond=0) <= after


async def test_arrival_date_is_stored_and_defaults_to_today_in_the_partner_zone(app_client, new_partner,
                                                                                db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    pays = [(await app_client.post(f"/partners/{pid}/invoices/{iid}/payments",
                                   json={"amount": "10.00"})).json()["id"] for _ in range(2)]
    given = await app_client.post(f"/partners/{pid}/payouts",
                                  json={"payment_ids": [pays[0]], "fee_amount": "0.30", "arrival_date": "2026-01-04"})
    assert given.status_code == 201, given.text
    assert given.json()["arrival_date"] == "2026-01-04"
    zone = ZoneInfo("America/Los_Angeles")  # no time_zone preference yet: QBO's own zone
    first = datetime.now(zone).date()
    default = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": [pays[1]], "fee_amount": "0"})
    last = datetime.now(zone).date()
    assert default.status_code == 201, default.text
    assert date.fromisoformat(default.json()["arrival_date"]) in {first, last}
    listed = {p["id"]: p["arrival_date"] for p in (await app_client.get(f"/partners/{pid}/payouts")).json()["items"]}
    assert listed == {given.json()["id"]: "2026-01-04", default.json()["id"]: default.json()["arrival_date"]}


async def test_bad_paid_at_changes_nothing(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "50.00")
    before = await snapshot(db_pool, pid)
    url = f"/partners/{pid}/invoices/{iid}/payments"
    for paid_at, needle in [
        ("2026-12-31T23:30:00", "no UTC offset"),  # naive: which day depends on the zone
        ("2026-12-31", "no UTC offset"),
        ("31/12/2026 23:30 -08:00", "not an ISO 8601 timestamp"),
        ("1999-12-31T23:59:59Z", "not a plausible payment time"),
        ("0001-01-01T00:00:00+00:00", "not a plausible payment time"),
        ("2999-01-01T00:00:00Z", "not a plausible payment time"),
        (1767252600, "ISO 8601 string"),  # epoch seconds: ambiguous units, refused
        ("", "not an ISO 8601 timestamp"),
    ]:
        resp = await app_client.post(url, json={"amount": "5.00", "paid_at": paid_at})
        assert_error(resp, 422, "validation_error", needle)
    assert await snapshot(db_pool, pid) == before


async def test_bad_arrival_date_changes_nothing(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "50.00")
    pay = (await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "20.00"})).json()["id"]
    before = await snapshot(db_pool, pid)
    for arrival, needle in [
        ("2026-13-01", "not a calendar date"),
        ("2026-02-30", "not a calendar date"),
        ("2026-01-04T00:00:00Z", "YYYY-MM-DD"),
        ("04/01/2026", "YYYY-MM-DD"),
        ("1999-12-31", "not plausible"),
        ("2999-01-01", "not plausible"),
        (20260104, "YYYY-MM-DD"),
    ]:
        resp = await app_client.post(f"/partners/{pid}/payouts",
                                     json={"payment_ids": [pay], "fee_amount": "1.00", "arrival_date": arrival})
        assert_error(resp, 422, "validation_error", needle)
    assert await snapshot(db_pool, pid) == before
