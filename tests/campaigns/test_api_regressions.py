"""Regressions for what the API campaign found: a NUL character (valid JSON as "\\u0000", valid in a URL as
%00) reached PostgreSQL, which can't store it, and the request answered 500 (CharacterNotInRepertoireError)."""

from __future__ import annotations

from tests.api.conftest import assert_error, snapshot


async def test_nul_in_a_body_is_422_naming_the_field(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    before = await snapshot(db_pool, pid)
    for path, body, field in [
        ("/partners", b'{"name": "a\\u0000b"}', "name"),
        (f"/partners/{pid}/customers", b'{"name": "ok", "email": "x\\u0000@y.z"}', "email"),
        (f"/partners/{pid}/invoices", b'{"customer_id": "\\u0000", "amount": "1", "due_date": "2026-12-01"}',
         "customer_id"),
        (f"/partners/{pid}/payouts", b'{"payment_ids": ["pay_\\u0000"], "fee_amount": "0"}', "payment_ids"),
    ]:
        resp = await app_client.post(path, content=body, headers={"content-type": "application/json"})
        assert_error(resp, 422, "validation_error", field)
    assert await snapshot(db_pool, pid) == before


async def test_nul_in_a_path_id_or_query_is_a_4xx(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    before = await snapshot(db_pool, pid)
    assert_error(await app_client.get("/partners/p_%00/customers"), 422, "validation_error", "NUL")
    resp = await app_client.post(f"/partners/{pid}/invoices/inv_%00/payments", json={"amount": "1.00"})
    assert_error(resp, 422, "validation_error", "NUL")
    assert_error(await app_client.post(f"/partners/{pid}/invoices/inv_%00/void"), 422, "validation_error")
    assert_error(await app_client.get("/oauth/qbo/callback?state=%00&code=c&realmId=1"), 400, "invalid_state")
    assert await snapshot(db_pool, pid) == before
