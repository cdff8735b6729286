"""The Integrations page in a real headless browser (issue 16): the seed's steps against the real API,
worker, Temporal, PostgreSQL and the emulator over HTTP. Each step writes a screenshot (`shot`)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import httpx
import pytest
from playwright.async_api import expect

from tests.dashboard.conftest import reload_until
from tests.helpers import eventually

# First of each test's fixtures: skip (or fail under CI) before any server starts when there's no chromium.
pytestmark = pytest.mark.usefixtures("chromium")


async def _partner(api: httpx.AsyncClient, name: str) -> str:
    resp = await api.post("/partners", json={"name": name})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def _connected_by_api(api: httpx.AsyncClient, emu, pid: str, invoices: int = 3) -> str:
    """Connect without the browser (the page under test comes after): the API's own OAuth round trip."""
    from tests.dashboard.conftest import oauth_round_trip

    realm = await emu.create_company(customers=3, invoices=invoices)
    done = await oauth_round_trip(api, pid, realm)
    assert done.status_code == 200, done.text

    async def active() -> bool:
        body = (await api.get(f"/partners/{pid}/qbo")).json()
        assert body["state"] == "active" and body["source"] == "workflow" and bool(body["last_synced_at"])
        return True

    await eventually(active, timeout=90, what="the partner to become active")
    return realm


async def test_seed_flow_from_connect_through_consent_to_synced_invoices(
        dashboard_url, api, emu, worker, browser_page, shot) -> None:
    page = browser_page
    name = f"Seed MSP {uuid.uuid4().hex[:6]}"
    company = f"Seed Books {uuid.uuid4().hex[:6]}"
    pid = await _partner(api, name)
    realm = await emu.create_company(customers=4, invoices=6, name=company)

    await page.goto(f"{dashboard_url}/dashboard")
    await page.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", name="1. QuickBooks")).to_be_visible()
    await expect(page.locator("#qbo-state")).to_have_text("not connected")
    await shot(page, "1-quickbooks-module")

    await page.get_by_role("button", name="Connect").click()  # → start_url → the emulator's consent page
    await expect(page.get_by_role("heading", name="Connect your QuickBooks company")).to_be_visible()
    await page.get_by_label(re.compile(re.escape(company))).check()
    await shot(page, "2-consent")
    await page.get_by_role("button", name="Approve").click()  # → the callback → back on the page

    await expect(page).to_have_url(re.compile(rf"/dashboard/partners/{pid}\?done=connected"))
    await expect(page.get_by_role("status")).to_contain_text("QuickBooks is connected")
    # The page does not poll: reload it until the first cycle is done ("last synced"). Onboarding applies the
    # invoices before the state turns active, so a page showing all six may still say "onboarding".
    await reload_until(page, page.locator("p", has=page.locator("#qbo-state")), "last synced")
    await expect(page.locator("#invoices caption")).to_contain_text("Invoices (6)")
    await expect(page.locator("#qbo-state")).to_have_text("active")
    await expect(page.get_by_text(f"company id {realm}")).to_be_visible()

    # 3. Set Up Accounts: the dropdown holds the company's accounts, the recommendation beside it.
    accounts = page.get_by_label("Account payments are recorded to")
    await expect(page.locator("#recommendation")).to_contain_text("Recommended")
    await accounts.select_option(label="Checking (Bank)")
    await shot(page, "3-set-up-accounts")
    await page.get_by_role("button", name="Save account").click()
    await expect(page.get_by_role("status")).to_have_text("Account saved.")
    status = (await api.get(f"/partners/{pid}/qbo")).json()
    checking = next(a["id"] for a in status["accounts"] if a["name"] == "Checking")
    assert status["preferences"]["payment_account_id"] == checking

    # 4. Preferences: Create Deposits is off by default; turn it on to Checking and Confirm.
    toggle = page.get_by_role("switch", name="Create Deposits")
    await expect(toggle).not_to_be_checked()
    await toggle.check()
    await page.get_by_label("Bank account the Deposits go to").select_option(label="Checking (Bank)")
    await shot(page, "4-preferences")
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status")).to_have_text("Preferences saved.")
    await expect(page.get_by_role("switch", name="Create Deposits")).to_be_checked()
    prefs = (await api.get(f"/partners/{pid}/qbo")).json()["preferences"]
    assert prefs["create_deposits"] is True and prefs["deposit_account_id"] == checking

    # 5. The synced invoices, with balance and status; the sync history has the onboarding's cycle.
    rows = page.locator("#invoices tbody tr")
    await expect(rows).to_have_count(6)
    await expect(rows.first).to_contain_text("QuickBooks")
    await expect(page.locator("#sync-runs tbody tr").first).not_to_contain_text("No sync yet")
    await page.locator("#step5").scroll_into_view_if_needed()
    await shot(page, "5-synced-invoices")


async def test_refused_preference_is_shown_at_its_field(dashboard_url, api, emu, worker, browser_page,
                                                        shot) -> None:
    page = browser_page
    pid = await _partner(api, f"Refused MSP {uuid.uuid4().hex[:6]}")
    await _connected_by_api(api, emu, pid)
    before = (await api.get(f"/partners/{pid}/qbo")).json()["preferences"]

    await page.goto(f"{dashboard_url}/dashboard/partners/{pid}")
    await page.get_by_role("switch", name="Create Deposits").check()  # and no bank account chosen
    await page.get_by_role("button", name="Confirm").click()

    deposit = page.get_by_label("Bank account the Deposits go to")
    await expect(page.locator("#deposit_account_id-error")).to_contain_text(
        "deposit_account_id is required when create_deposits is on")
    await expect(deposit).to_have_attribute("aria-invalid", "true")
    await expect(deposit).to_have_attribute("aria-describedby", "deposit_account_id-error")
    await expect(page.get_by_role("switch", name="Create Deposits")).to_be_checked()  # what was typed stays
    await shot(page, "4b-refused-preference")
    assert (await api.get(f"/partners/{pid}/qbo")).json()["preferences"] == before  # nothing changed


async def test_payment_status_changes_after_a_sync(dashboard_url, api, emu, worker, browser_page, shot) -> None:
    page = browser_page
    pid = await _partner(api, f"Paying MSP {uuid.uuid4().hex[:6]}")
    await _connected_by_api(api, emu, pid)
    invoice = next(i for i in (await api.get(f"/partners/{pid}/invoices")).json()["items"]
                   if i["source"] == "qbo" and i["status"] != "paid" and Decimal(i["balance"]) > 1)
    await page.goto(f"{dashboard_url}/dashboard/partners/{pid}")
    await expect(page.locator("#payments tbody")).to_contain_text("No payments yet.")

    paid = await api.post(f"/partners/{pid}/invoices/{invoice['id']}/payments",
                          json={"amount": "1.00", "reference": "browser test payment"})
    assert paid.status_code == 201, paid.text
    row = page.locator(f"#payment-{paid.json()['id']}")
    await page.get_by_role("button", name="Sync now").click()
    await expect(page.get_by_role("status")).to_have_text("Sync requested.")
    await reload_until(page, row.locator(".status"), "posted")
    await expect(row.locator(".status")).to_contain_text(re.compile(r"posted \(Payment \d+\)"))
    await shot(page, "5b-payment-posted")
    posted = next(p for p in (await api.get(f"/partners/{pid}/payments")).json()["items"] if p["id"] == paid.json()["id"])
    assert posted["status"] == "posted" and posted["qbo_payment_id"]

    # A partial refund of the posted payment (it nudges the workflow itself): the page shows it booked, the QBO
    # Payment reduced. Not asserted while pending: the workflow may book it before the page is reloaded.
    refund = await api.post(f"/partners/{pid}/payments/{paid.json()['id']}/refunds",
                            json={"amount": "0.40", "kind": "refund", "reason": "browser test refund"})
    assert refund.status_code == 201, refund.text
    cell = row.locator(f"#refund-{refund.json()['id']}")
    await reload_until(page, cell, "posted")
    await expect(cell).to_have_text("refund 0.40: posted (reduced)")
    await shot(page, "5c-refund-booked")
