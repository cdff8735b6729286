"""The demo partner of `make run` (PRODUCT.md §2), seeded once, on first start, through the public API.

Every step looks first at what a previous start already did (partner by name, its state, its preferences,
payments and payouts), so a start that failed half-way is resumed on the next one rather than duplicated.
"""

from __future__ import annotations

import json
import logging
import time
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlsplit

import httpx

from settings import get_settings, split_keys

log = logging.getLogger("devstack")
DEMO_PARTNER = "Demo MSP"
DEMO_COMPANY = "Demo MSP Books (emulated QuickBooks)"
CENT = Decimal("0.01")


def seed_demo(stack, timeout: float = 180) -> list[str]:
    """Seed (or find) the demo partner; returns the extra banner lines. Never raises: a failure is reported."""
    keys = split_keys(stack.env.get("API_KEY", ""))
    headers = {"Authorization": f"Bearer {keys[0]}"} if keys else {}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=30) as api, \
            httpx.Client(base_url=stack.emulator_url, timeout=30) as emu:
        try:
            pid = _seed(stack, api, emu, time.monotonic() + timeout)
        except Exception as exc:  # the stack itself is fine: say so plainly, the next start resumes
            log.error("!!! demo seeding failed: %s: %s (the service runs; the next start resumes the demo)",
                      type(exc).__name__, exc)
            return [f"  Demo           NOT ready: {type(exc).__name__}: {exc}"]
    base = f"{stack.api_url}/partners/{pid}"
    page = [f"    dashboard    {stack.api_url}/dashboard/partners/{pid}   (the Integrations page)"] \
        if get_settings().dashboard_on else []
    return [
        f"  Demo partner   {DEMO_PARTNER} ({pid}), connected to the emulated QuickBooks company '{DEMO_COMPANY}'",
        *page,
        f"    status       GET {base}/qbo",
        f"    invoices     GET {base}/invoices",
        f"    payments     GET {base}/payments",
        f"    payouts      GET {base}/payouts",
        f"    sync runs    GET {base}/qbo/sync-runs",
        f"    workflow     {stack.temporal_ui_url}/namespaces/{stack.env.get('TEMPORAL_NAMESPACE', 'default')}"
        f"/workflows/qbo-partner-{pid}",
        f"    try it at    {stack.api_url}/docs",
    ]


def _ok(resp: httpx.Response) -> dict | list:
    if resp.is_error:
        raise RuntimeError(f"{resp.request.method} {resp.request.url.path} answered {resp.status_code}: {resp.text[:300]}")
    return resp.json()


def _wait(what: str, probe, deadline: float):
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.5)
    return value


def _seed(stack, api: httpx.Client, emu: httpx.Client, deadline: float) -> str:
    partner = next((p for p in _ok(api.get("/partners")) if p["name"] == DEMO_PARTNER), None)
    if partner is None:
        log.info("demo: creating the demo partner and its QuickBooks company (first start)")
        pid = _ok(api.post("/partners", json={"name": DEMO_PARTNER}))["id"]
        state = "not_connected"
    else:
        pid, state = partner["id"], partner["qbo_state"]
    _ok(emu.put("/_emulator/webhooks", json={"url": f"{stack.api_url}/webhooks/qbo", "format": "cloudevents",
                                             **_verifier(stack)}))
    if state in ("disconnected", "needs_reconnect"):  # someone's doing since the demo was seeded: leave it
        log.info("demo: %s is %s; not touching it", DEMO_PARTNER, state)
        return pid
    if state == "not_connected":
        _connect(stack, api, emu, pid)
    seen: list[str] = []

    def active() -> dict | None:
        status = _ok(api.get(f"/partners/{pid}/qbo"))
        backfill = status.get("backfill") or {}
        progress = f"demo: {status['state']}, step {status.get('step')}, backfill " \
                   f"{backfill.get('done', '-')}/{backfill.get('total') or '?'}"
        if progress not in seen:
            seen.append(progress)
            log.info(progress)
        return status if status["state"] == "active" and status["last_synced_at"] else None

    status = _wait("the demo partner to finish its backfill", active, deadline)
    prefs = status["preferences"]
    if not prefs["create_deposits"]:
        checking = next(a["id"] for a in status["accounts"] if a["name"] == "Checking")
        _ok(api.put(f"/partners/{pid}/qbo/preferences",
                    json={**prefs, "create_deposits": True, "deposit_account_id": checking}))
        log.info("demo: deposits turned on (to Checking)")

    payments = _ok(api.get(f"/partners/{pid}/payments", params={"limit": 1000}))["items"]
    if not payments:
        open_qbo = [i for i in _ok(api.get(f"/partners/{pid}/invoices", params={"limit": 1000}))["items"]
                    if i["source"] == "qbo" and i["status"] != "paid" and Decimal(i["balance"]) > 0]
        for n, (invoice, share) in enumerate(zip(open_qbo, ("1", "0.5", "0.25"), strict=False), 1):
            amount = (Decimal(invoice["balance"]) * Decimal(share)).quantize(CENT) or Decimal(invoice["balance"])
            _ok(api.post(f"/partners/{pid}/invoices/{invoice['id']}/payments",
                         json={"amount": str(amount), "reference": f"demo card payment {n}"}))
        payments = _ok(api.get(f"/partners/{pid}/payments", params={"limit": 1000}))["items"]
        log.info("demo: %d platform payments recorded", len(payments))
    unpaid_out = [p for p in payments if not p["payout_id"]]
    if unpaid_out and not _ok(api.get(f"/partners/{pid}/payouts", params={"limit": 1000}))["items"]:
        gross = sum(Decimal(p["amount"]) for p in unpaid_out)
        fee = (gross * Decimal("0.029") + Decimal("0.30")).quantize(CENT, ROUND_HALF_UP)
        _ok(api.post(f"/partners/{pid}/payouts", json={"payment_ids": [p["id"] for p in unpaid_out],
                                                      "fee_amount": str(fee)}))
        log.info("demo: payout of %s (fee %s) recorded", gross, fee)

    def settled() -> bool:
        posted = all(p["status"] == "posted" for p in _ok(api.get(f"/partners/{pid}/payments", params={"limit": 1000}))["items"])
        return posted and all(p["status"] == "deposited" for p in _ok(api.get(f"/partners/{pid}/payouts", params={"limit": 1000}))["items"])

    _wait("the demo payments and payout to reach QuickBooks", settled, deadline)
    log.info("demo: payments posted and payout deposited in QuickBooks")
    return pid


def _connect(stack, api: httpx.Client, emu: httpx.Client, pid: str) -> None:
    """The real OAuth flow, as the dashboard and the partner's browser would run it (`api` is that browser:
    its cookie jar carries the cookie `connect` sets back to the callback)."""
    realm = next((c["realm_id"] for c in _ok(emu.get("/_emulator/companies")) if c["name"] == DEMO_COMPANY), None)
    if realm is None:
        seed = {"customers": 24, "invoices": 40, "payments": 6, "random_seed": 2024}
        realm = _ok(emu.post("/_emulator/companies", json={"name": DEMO_COMPANY, "seed": seed}))["realm_id"]
    authorize_url = _ok(api.post(f"/partners/{pid}/qbo/connect"))["authorize_url"]
    consent = emu.get(f"{authorize_url}&realmId={realm}", follow_redirects=False)  # params= would drop the query
    if consent.status_code != 302:
        raise RuntimeError(f"the emulator's consent page answered {consent.status_code}: {consent.text[:300]}")
    callback = urlsplit(consent.headers["location"])
    done = api.get(f"{callback.path}?{callback.query}")
    if done.is_error:
        raise RuntimeError(f"the OAuth callback answered {done.status_code}: {done.text[:300]}")
    log.info("demo: partner %s connected to realm %s through OAuth", pid, realm)


def _verifier(stack) -> dict:
    """The webhook verifier token the API checks: from the environment, else the stack's dev secrets."""
    token = stack.env.get("QBO_WEBHOOK_VERIFIER_TOKEN")
    secrets_file = stack.config.data_dir / "dev-secrets.json"
    if not token and secrets_file.exists():
        token = json.loads(secrets_file.read_text()).get("QBO_WEBHOOK_VERIFIER_TOKEN")
    return {"verifier_token": token} if token else {}
