"""Paged lists (issue 14 item 9, PRODUCT.md §6): `limit` (default 100, at most 1000), an opaque `cursor`,
`{"items", "next_cursor"}` in the body; and the cap on a payout's `payment_ids`."""

from __future__ import annotations

import base64
from decimal import Decimal

from tests.api.conftest import assert_error, qbo_invoice, snapshot


async def _walk(http, path: str, limit: int, **params) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        resp = await http.get(path, params=query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"items", "next_cursor"}, body
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "paging does not end"


async def test_every_list_pages_in_order_without_gaps_or_repeats(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    for n in range(7):
        assert (await app_client.post(f"/partners/{pid}/customers", json={"name": f"c{n}"})).status_code == 201
    iids = [await qbo_invoice(db_pool, pid, "100.00") for _ in range(5)]
    pay_ids = []
    for iid in iids:
        resp = await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "10.00"})
        pay_ids.append(resp.json()["id"])
    for ids in (pay_ids[:2], pay_ids[2:3], pay_ids[3:]):
        resp = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": ids, "fee_amount": "0.50"})
        assert resp.status_code == 201, resp.text
    for what, total in [("customers", 7), ("invoices", 5), ("payments", 5), ("payouts", 3)]:
        path = f"/partners/{pid}/{what}"
        whole = (await app_client.get(path, params={"limit": 1000})).json()
        assert whole["next_cursor"] is None and len(whole["items"]) == total, (what, whole)
        pages = await _walk(app_client, path, 2)
        assert [len(p) for p in pages] == [2] * (total // 2) + ([total % 2] if total % 2 else []), (what, pages)
        assert [i for p in pages for i in p] == whole["items"], what  # same rows, same order, none twice


async def test_a_row_added_between_pages_comes_last_and_shifts_nothing(app_client, new_partner) -> None:
    pid = await new_partner()
    for n in range(4):
        await app_client.post(f"/partners/{pid}/customers", json={"name": f"c{n}"})
    first = (await app_client.get(f"/partners/{pid}/customers", params={"limit": 2})).json()
    await app_client.post(f"/partners/{pid}/customers", json={"name": "late"})
    rest = (await app_client.get(f"/partners/{pid}/customers",
                                 params={"limit": 10, "cursor": first["next_cursor"]})).json()
    assert [c["name"] for c in first["items"] + rest["items"]] == ["c0", "c1", "c2", "c3", "late"]
    assert rest["next_cursor"] is None


async def test_default_page_is_100(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    await db_pool.executemany(
        "INSERT INTO customers (id, partner_id, source, name) VALUES ($1, $2, 'platform', $3)",
        [(f"cus_page_{pid}_{n:03d}", pid, f"c{n}") for n in range(101)])
    body = (await app_client.get(f"/partners/{pid}/customers")).json()
    assert len(body["items"]) == 100 and body["next_cursor"], len(body["items"])
    last = (await app_client.get(f"/partners/{pid}/customers", params={"cursor": body["next_cursor"]})).json()
    assert len(last["items"]) == 1 and last["next_cursor"] is None


async def test_bad_limits_and_cursors_are_refused_in_the_error_shape(app_client, new_partner) -> None:
    pid = await new_partner()
    forged = base64.urlsafe_b64encode(b'["not a time", 1]').decode()
    for what in ("customers", "invoices", "payments", "payouts"):
        path = f"/partners/{pid}/{what}"
        for limit in ("0", "1001", "-1", "ten"):
            assert_error(await app_client.get(path, params={"limit": limit}), 422, "validation_error", "limit")
        for cursor in ("garbage!", forged, "W10", "eyJ9", "x" * 301):
            assert_error(await app_client.get(path, params={"cursor": cursor}), 422, "validation_error", "cursor")


async def test_payment_ids_are_capped_at_1000(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    pay = (await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "5.00"})).json()["id"]
    before = await snapshot(db_pool, pid)
    ids = [pay] + [f"pay_{n:016x}" for n in range(1000)]
    resp = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": ids, "fee_amount": "0"})
    assert_error(resp, 422, "validation_error", "payment_ids")
    assert await snapshot(db_pool, pid) == before
    assert await db_pool.fetchval("SELECT amount FROM payments WHERE id = $1", pay) == Decimal("5.00")
