"""The whole service over real processes (PRODUCT.md §2): Temporal dev server, embedded PostgreSQL, the QBO
emulator, a worker and the API, each its own process, started by the same `LocalStack` as `make run`.

A partner connects through OAuth and backfills; a bookkeeper's change in QBO reaches the platform API through
a signed webhook (the sync interval is an hour, and nothing asks for a sync); a platform payment reaches QBO;
a payout becomes a Deposit of its net amount; disconnect completes the workflow. And `make run`'s demo seeds
an active partner with a deposit, once.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.demo import DEMO_PARTNER, seed_demo
from devstack.stack import LocalStack, StackConfig
from store.embedded import free_port
from tests.helpers import wait_until

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def stack(run_dir) -> Iterator[LocalStack]:
    # Outside /tmp/pytest-of-<user>, as tests/conftest.py's `stack_dir` says why (module scope here).
    folder = Path(tempfile.mkdtemp(prefix="stack-", dir=run_dir))
    config = StackConfig.ephemeral(folder)
    config.env["SYNC_INTERVAL_SECONDS"] = "3600"  # only the webhook can bring a QBO change in time
    with pytest.MonkeyPatch.context() as mp:  # our own processes, not the session's shared ones
        for name in ("DATABASE_URL", "TEMPORAL_ADDRESS", "QBO_EMULATOR_URL", "QBO_REDIRECT_URI", "API_KEY"):
            mp.delenv(name, raising=False)
        local = LocalStack(config)
    try:
        local.start()
        yield local
    except BaseException:
        logs = config.log_dir
        for path in sorted(logs.glob("*.log")) if logs else []:
            logging.getLogger("e2e").error("--- %s ---\n%s", path.name, path.read_text()[-3000:])
        raise
    finally:
        local.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def emu(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.emulator_url, timeout=30) as client:
        yield client


def ok(resp: httpx.Response, status: int = 200):
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json()


def money(value) -> Decimal:
    """QBO's JSON numbers as exact cents (never through a binary float's digits)."""
    return Decimal(str(value))


class Books:
    """A bookkeeper working in the QBO company through the Accounting API, with a token of their own."""

    def __init__(self, emu: httpx.Client, realm: str) -> None:
        token = ok(emu.post(f"/_emulator/companies/{realm}/tokens"))["access_token"]
        self.http, self.base = emu, f"/v3/company/{realm}"
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def read(self, entity: str, qbo_id: str) -> dict:
        return ok(self.http.get(f"{self.base}/{entity.lower()}/{qbo_id}", headers=self.headers))[entity]

    def sparse_update(self, entity: str, qbo_id: str, **fields) -> dict:
        current = self.read(entity, qbo_id)
        body = {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, **fields}
        return ok(self.http.post(f"{self.base}/{entity.lower()}", json=body, headers=self.headers))[entity]

    def query(self, sql: str) -> list[dict]:
        found = ok(self.http.get(f"{self.base}/query", params={"query": sql}, headers=self.headers))
        return next((v for k, v in found["QueryResponse"].items() if isinstance(v, list)), [])


def test_connect_sync_by_webhook_pay_deposit_disconnect(stack: LocalStack, api: httpx.Client, emu: httpx.Client):
    realm = ok(emu.post("/_emulator/companies", json={
        "name": "E2E Plumbing LLC", "seed": {"customers": 5, "invoices": 8, "payments": 0, "random_seed": 7}}))["realm_id"]
    ok(emu.put("/_emulator/webhooks", json={"url": f"{stack.api_url}/webhooks/qbo", "format": "cloudevents"}))
    pid = ok(api.post("/partners", json={"name": "E2E partner"}), 201)["id"]

    # Connect through the real OAuth flow: the dashboard asks for the URL, the browser consents and lands back.
    url = ok(api.post(f"/partners/{pid}/qbo/connect"))["authorize_url"]
    consent = httpx.get(f"{url}&realmId={realm}", follow_redirects=False)
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    assert f"{callback.scheme}://{callback.netloc}" == stack.api_url
    assert api.get(f"{callback.path}?{callback.query}").status_code == 200

    def status_when(pred):
        def probe() -> dict | None:
            current = ok(api.get(f"/partners/{pid}/qbo"))
            assert pred(current), current
            return current
        return probe

    status = wait_until(status_when(lambda s: s["state"] == "active" and s["last_synced_at"]), timeout=120,
                        interval=0.3, what="the backfill")
    assert status["realm_id"] == realm and status["source"] == "workflow"
    invoices = wait_until(lambda: [i for i in ok(api.get(f"/partners/{pid}/invoices"))["items"] if i["source"] == "qbo"],
                          what="the backfilled invoices")
    assert len(invoices) == 8

    # A bookkeeper changes an invoice in QBO: the signed webhook alone brings it to the platform.
    books = Books(emu, realm)
    changed = next(i for i in invoices if i["status"] == "open")
    books.sparse_update("Invoice", changed["qbo_id"], DocNumber="E2E-CHANGED")
    wait_until(lambda: any(i["id"] == changed["id"] and i["doc_number"] == "E2E-CHANGED"
                           for i in ok(api.get(f"/partners/{pid}/invoices"))["items"]),
               timeout=60, interval=0.2, what="the QBO change to reach the platform by webhook")
    # the emulator logs a delivery once our 200 is back in, which may be just after the change shows
    wait_until(lambda: any(d["status"] == 200 for d in ok(emu.get("/_emulator/webhooks/deliveries"))["deliveries"]),
               what="the emulator to log our 200 for the delivery")
    # nobody called POST /qbo/sync and the interval is an hour: the webhook's sync_now ran this cycle
    assert "sync_now" in {r["trigger"] for r in ok(api.get(f"/partners/{pid}/qbo/sync-runs"))}

    # Deposits on; a platform payment reaches QBO as a Payment; a payout becomes a Deposit of its net amount.
    checking = next(a["id"] for a in status["accounts"] if a["name"] == "Checking")
    ok(api.put(f"/partners/{pid}/qbo/preferences",
               json={**status["preferences"], "create_deposits": True, "deposit_account_id": checking}))
    balance_before = money(books.read("Invoice", changed["qbo_id"])["Balance"])
    amount = (balance_before / 2).quantize(Decimal("0.01"))
    payment = ok(api.post(f"/partners/{pid}/invoices/{changed['id']}/payments",
                          json={"amount": str(amount), "reference": "card 4242"}), 201)
    posted = wait_until(lambda: next((p for p in ok(api.get(f"/partners/{pid}/payments"))["items"]
                                      if p["id"] == payment["id"] and p["status"] == "posted"), None),
                        timeout=60, interval=0.2, what="the payment to be posted")
    in_qbo = books.query(f"select * from Payment where PaymentRefNum = '{payment['id']}'")
    assert [p["Id"] for p in in_qbo] == [posted["qbo_payment_id"]]
    assert money(in_qbo[0]["TotalAmt"]) == amount
    assert money(books.read("Invoice", changed["qbo_id"])["Balance"]) == balance_before - amount

    payout = ok(api.post(f"/partners/{pid}/payouts", json={"payment_ids": [payment["id"]], "fee_amount": "1.25"}),
                201)
    deposited = wait_until(lambda: next((p for p in ok(api.get(f"/partners/{pid}/payouts"))["items"]
                                         if p["id"] == payout["id"] and p["status"] == "deposited"), None),
                           timeout=60, interval=0.2, what="the payout to become a deposit")
    deposit = books.read("Deposit", deposited["qbo_deposit_id"])
    assert money(deposit["TotalAmt"]) == amount - Decimal("1.25") == Decimal(deposited["net_amount"])
    assert payout["id"] in deposit.get("PrivateNote", "")

    # Disconnect: the workflow completes, the data stays.
    ok(api.post(f"/partners/{pid}/qbo/disconnect"))
    final = wait_until(status_when(lambda s: s["state"] == "disconnected" and s["source"] == "database"),
                       timeout=60, interval=0.2, what="the workflow to complete disconnected")
    assert final["realm_id"] == realm
    assert len(ok(api.get(f"/partners/{pid}/invoices"))["items"]) == 8
    # "database" also answers when the status query failed (a slow worker, api/partners.py _live_status), and
    # the row says disconnected before the workflow's last task: wait for Temporal itself to say completed.
    wait_until(lambda: _workflow_status(stack, pid) == "COMPLETED", timeout=60, interval=0.2,
               what="the workflow to complete")


def _workflow_status(stack: LocalStack, pid: str) -> str:
    import asyncio

    from temporalio.client import Client

    async def describe() -> str:
        client = await Client.connect(stack.temporal_address)
        return (await client.get_workflow_handle(f"qbo-partner-{pid}").describe()).status.name

    return asyncio.run(describe())


def test_demo_seeds_an_active_partner_with_a_deposit_once(stack: LocalStack, api: httpx.Client, emu: httpx.Client):
    # A first start that died right after creating the partner: this start carries on with that partner.
    half_seeded = ok(api.post("/partners", json={"name": DEMO_PARTNER}), 201)["id"]
    banner = seed_demo(stack)
    assert not any("NOT ready" in line for line in banner), banner
    demo = [p for p in ok(api.get("/partners")) if p["name"] == DEMO_PARTNER]
    assert len(demo) == 1 and demo[0]["qbo_state"] == "active"
    pid = demo[0]["id"]
    assert pid == half_seeded
    assert any(f"/partners/{pid}/qbo" in line for line in banner)
    assert any(f"/workflows/qbo-partner-{pid}" in line for line in banner)
    status = ok(api.get(f"/partners/{pid}/qbo"))
    assert status["preferences"]["create_deposits"] and status["preferences"]["deposit_account_id"]
    payments, payouts = ok(api.get(f"/partners/{pid}/payments"))["items"], ok(api.get(f"/partners/{pid}/payouts"))["items"]
    assert payments and all(p["status"] == "posted" for p in payments)
    assert len(payouts) == 1 and payouts[0]["status"] == "deposited" and payouts[0]["qbo_deposit_id"]
    companies = ok(emu.get("/_emulator/companies"))

    again = seed_demo(stack)
    assert again == banner
    assert [p for p in ok(api.get("/partners")) if p["name"] == DEMO_PARTNER] == demo
    assert ok(api.get(f"/partners/{pid}/payments"))["items"] == payments
    assert ok(api.get(f"/partners/{pid}/payouts"))["items"] == payouts
    assert ok(emu.get("/_emulator/companies")) == companies


def test_a_demo_that_cannot_seed_says_so_and_does_not_raise(tmp_path):
    nowhere = f"http://127.0.0.1:{free_port()}"
    fake = SimpleNamespace(api_url=nowhere, emulator_url=nowhere, temporal_ui_url=nowhere, env={},
                           config=SimpleNamespace(data_dir=tmp_path))
    banner = seed_demo(fake, timeout=5)
    assert len(banner) == 1 and "Demo" in banner[0] and "NOT ready" in banner[0] and "ConnectError" in banner[0]
