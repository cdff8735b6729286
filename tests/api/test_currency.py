"""Foreign currency end to end (issue 13, PRODUCT.md §4 "Currency"): a USD company with multicurrency on, a
EUR invoice read with its currency and rate, a preference that cannot take EUR payments refused, the EUR
payment and payout posted through the real workflow as a EUR Payment at the invoice's rate and a Deposit to
the EUR bank, reconciliation clean; and a payout mixing currencies refused with 422, nothing changed."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from qbo_emulator.webhooks import sign
from tests.api.conftest import assert_error, oauth_round_trip, reconciled, snapshot
from tests.helpers import eventually


class Bookkeeper:
    """Someone working in the QBO company (the emulator's Accounting API with a token of their own)."""

    def __init__(self, emulator_url: str, realm: str, token: dict[str, Any]) -> None:
        self.http = httpx.AsyncClient(base_url=f"{emulator_url}/v3/company/{realm}", timeout=30,
                                      headers={"Authorization": f"Bearer {token['access_token']}",
                                               "Accept": "application/json"})

    async def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.http.post(f"/{entity.lower()}", content=json.dumps(body, default=str),
                                    headers={"Content-Type": "application/json"})
        assert resp.status_code == 200, resp.text
        return json.loads(resp.text, parse_float=Decimal)[entity]

    async def read(self, entity: str, id_: str) -> dict[str, Any]:
        resp = await self.http.get(f"/{entity.lower()}/{id_}")
        assert resp.status_code == 200, resp.text
        return json.loads(resp.text, parse_float=Decimal)[entity]

    async def find(self, statement: str) -> list[dict[str, Any]]:
        resp = await self.http.get("/query", params={"query": statement})
        assert resp.status_code == 200, resp.text
        answer = json.loads(resp.text, parse_float=Decimal)["QueryResponse"]
        return next((v for v in answer.values() if isinstance(v, list)), [])


@pytest.fixture
async def eur_company(emu, emulator_url) -> Any:
    """A USD company with multicurrency on, whose only invoice is EUR 100.00 at 1.10, and a EUR bank."""
    realm = await emu.create_company(customers=0, invoices=0, multicurrency=True)
    bk = Bookkeeper(emulator_url, realm, await emu.tokens(realm))
    customer = await bk.create("Customer", {"DisplayName": "Europa GmbH", "CurrencyRef": {"value": "EUR"}})
    invoice = await bk.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "ExchangeRate": "1.10",
                                          "Line": [{"Amount": "100.00", "DetailType": "SalesItemLineDetail",
                                                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
    bank = await bk.create("Account", {"Name": "Checking EUR", "AccountType": "Bank",
                                       "CurrencyRef": {"value": "EUR"}})
    checking = next(a for a in await bk.find("select * from Account where AccountType = 'Bank'")
                    if a["Name"] == "Checking")
    yield {"realm": realm, "bk": bk, "invoice": invoice, "eur_bank": bank["Id"], "usd_bank": checking["Id"]}
    await bk.http.aclose()


async def _connect(app_client, new_partner, realm: str) -> str:
    pid = await new_partner()
    done = await oauth_round_trip(app_client, pid, realm)
    assert done.status_code == 200, done.text

    async def active() -> bool:
        body = (await app_client.get(f"/partners/{pid}/qbo")).json()
        return body["state"] == "active" and body["source"] == "workflow" and bool(body["last_synced_at"])

    await eventually(active, timeout=120, what="the partner to become active and finish a cycle")
    return pid


async def test_eur_invoice_in_a_usd_company_is_paid_and_deposited(
        app_client, new_partner, worker, db_pool, eur_company) -> None:
    pid = await _connect(app_client, new_partner, eur_company["realm"])
    bk, qbo_invoice = eur_company["bk"], eur_company["invoice"]
    invoices = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    [inv] = [i for i in invoices if i["qbo_id"] == qbo_invoice["Id"]]
    assert (inv["currency"], inv["exchange_rate"], inv["home_currency"], inv["amount"]) == \
        ("EUR", "1.10", "USD", "100.00")

    # A USD bank cannot take EUR payments: refused with the reason, nothing changed.
    prefs = (await app_client.get(f"/partners/{pid}/qbo")).json()["preferences"]
    before = await snapshot(db_pool, pid)
    refused = await app_client.put(f"/partners/{pid}/qbo/preferences", json={
        **prefs, "create_deposits": True, "deposit_account_id": eur_company["usd_bank"]})
    assert_error(refused, 422, "invalid_preferences", "is in USD and cannot take the partner's payments in EUR")
    assert await snapshot(db_pool, pid) == before
    accepted = await app_client.put(f"/partners/{pid}/qbo/preferences", json={
        **prefs, "create_deposits": True, "deposit_account_id": eur_company["eur_bank"]})
    assert accepted.status_code == 200, accepted.text

    paid = await app_client.post(f"/partners/{pid}/invoices/{inv['id']}/payments", json={"amount": "100.00"})
    assert paid.status_code == 201, paid.text
    payout = await app_client.post(f"/partners/{pid}/payouts",
                                   json={"payment_ids": [paid.json()["id"]], "fee_amount": "2.00"})
    assert payout.status_code == 201, payout.text
    assert payout.json()["currency"] == "EUR"

    async def deposited() -> dict | None:
        items = (await app_client.get(f"/partners/{pid}/payouts")).json()["items"]
        return items[0] if items and items[0]["status"] == "deposited" else None

    settled = await eventually(deposited, timeout=120, what="the EUR payout to be deposited")
    payment = (await app_client.get(f"/partners/{pid}/payments")).json()["items"][0]
    qbo_payment = await bk.read("Payment", payment["qbo_payment_id"])
    assert qbo_payment["CurrencyRef"]["value"] == "EUR" and qbo_payment["ExchangeRate"] == Decimal("1.10")
    assert qbo_payment["TotalAmt"] == Decimal("100.00")
    deposit = await bk.read("Deposit", settled["qbo_deposit_id"])
    assert deposit["CurrencyRef"]["value"] == "EUR" and deposit["TotalAmt"] == Decimal("98.00")
    assert deposit["DepositToAccountRef"]["value"] == eur_company["eur_bank"]
    assert deposit["ExchangeRate"] == Decimal("1.10")
    after = await bk.read("Invoice", qbo_invoice["Id"])
    assert after["Balance"] == 0 and after["HomeBalance"] == 0

    report = await reconciled(app_client, pid)
    assert report["invoices_checked"] == 1 and report["payouts_checked"] == 1, report
    assert (report["invoice_mismatches"], report["payment_mismatches"], report["deposit_mismatches"]) == (0, 0, 0), \
        report
    # Reconciliation does compare the rate: a platform rate that is not QBO's is reported.
    await db_pool.execute("UPDATE invoices SET exchange_rate = 1.2 WHERE id = $1", inv["id"])
    report = await reconciled(app_client, pid)
    assert report["invoice_mismatches"] == 1, report
    assert any("exchange rate differs: platform 1.2, QBO 1.10" in d["problem"] for d in report["details"]), report


async def test_preferences_are_read_again_after_a_preferences_webhook(
        app_client, new_partner, worker, db_pool, emu, api_settings) -> None:
    realm = await emu.create_company(customers=1, invoices=1)
    pid = await _connect(app_client, new_partner, realm)
    row = await db_pool.fetchrow("SELECT home_currency, multicurrency_enabled FROM qbo_connections"
                                 " WHERE partner_id = $1", pid)
    assert (row["home_currency"], row["multicurrency_enabled"]) == ("USD", False)  # read at onboarding
    await emu.currency_prefs(realm, multicurrency=True)
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.x", "type": "qbo.preferences.updated.v1",
             "datacontenttype": "application/json", "time": "2026-11-27T10:00:00Z", "intuitentityid": "1",
             "intuitaccountid": realm, "data": {}}
    body = json.dumps([event]).encode()
    verifier = api_settings.qbo_webhook_verifier_token.get_secret_value()
    resp = await app_client.post("/webhooks/qbo", content=body, headers={
        "content-type": "application/cloudevents+json", "intuit-signature": sign(verifier, body)})
    assert resp.status_code == 200, resp.text

    async def reread() -> bool:
        return bool(await db_pool.fetchval(
            "SELECT multicurrency_enabled FROM qbo_connections WHERE partner_id = $1", pid))

    await eventually(reread, timeout=90, what="the next cycle to read Preferences after their webhook")


async def test_a_payout_mixing_currencies_is_refused(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    cid = (await app_client.post(f"/partners/{pid}/customers", json={"name": "Two Currencies"})).json()["id"]
    payments = []
    for currency in ("USD", "EUR"):
        inv = await app_client.post(f"/partners/{pid}/invoices", json={
            "customer_id": cid, "amount": "50.00", "due_date": "2027-01-31", "currency": currency})
        assert inv.status_code == 201, inv.text
        paid = await app_client.post(f"/partners/{pid}/invoices/{inv.json()['id']}/payments", json={"amount": "50"})
        assert paid.status_code == 201, paid.text
        payments.append(paid.json()["id"])
    before = await snapshot(db_pool, pid)
    mixed = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": payments, "fee_amount": "1.00"})
    error = assert_error(mixed, 422, needle="a payout holds payments of one currency")
    assert "EUR: " in error["message"] and "USD: " in error["message"]
    assert await snapshot(db_pool, pid) == before
    single = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": payments[1:], "fee_amount": "1"})
    assert single.status_code == 201 and single.json()["currency"] == "EUR", single.text


async def test_a_payout_carrying_a_refund_in_another_currency_is_refused(app_client, new_partner, db_pool) -> None:
    """A refund rides a payout of its payment's currency only: a EUR refund's line could not sit in a USD
    Deposit (issue 13: refunds in a payout match the payout's currency)."""
    pid = await new_partner()
    cid = (await app_client.post(f"/partners/{pid}/customers", json={"name": "Refunded Abroad"})).json()["id"]
    paid = {}
    for currency in ("USD", "EUR"):
        inv = await app_client.post(f"/partners/{pid}/invoices", json={
            "customer_id": cid, "amount": "50.00", "due_date": "2027-01-31", "currency": currency})
        paid[currency] = (await app_client.post(f"/partners/{pid}/invoices/{inv.json()['id']}/payments",
                                                json={"amount": "50"})).json()["id"]
    refund = await app_client.post(f"/partners/{pid}/payments/{paid['EUR']}/refunds",
                                   json={"amount": "5.00", "kind": "refund"})
    assert refund.status_code == 201, refund.text
    before = await snapshot(db_pool, pid)
    mixed = await app_client.post(f"/partners/{pid}/payouts", json={
        "payment_ids": [paid["USD"]], "refund_ids": [refund.json()["id"]], "fee_amount": "1.00"})
    error = assert_error(mixed, 422, needle="a payout holds refunds of its payments' currency USD only")
    assert f"{refund.json()['id']} (EUR)" in error["message"]
    assert await snapshot(db_pool, pid) == before
