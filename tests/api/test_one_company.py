"""One QBO company per partner (PRODUCT.md §5 "Reconnect is to the same company only"), end to end through
the API, the emulator's real OAuth flow and the real workflow: a live partner choosing another company in
Intuit's picker is refused and the new grant given back; an edited `realmId` is refused before anything
is stored; a disconnected partner moving to another company starts afresh, the old company's work set
aside and never posted into the new one."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.api.conftest import assert_error, oauth_round_trip, snapshot
from tests.helpers import eventually


async def _consent(http: httpx.AsyncClient, pid: str, realm: str) -> tuple[str, dict[str, str]]:
    """Ask for the authorize URL and consent at the emulator → the callback path and its query."""
    url = (await http.post(f"/partners/{pid}/qbo/connect")).json()["authorize_url"]
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        location = urlsplit((await browser.get(f"{url}&realmId={realm}")).headers["location"])
    return location.path, dict(parse_qsl(location.query))


async def _writes(emu, realm: str) -> int:
    ops = (await emu.requests(realm))["by_operation"]
    return sum(ops.get(op, 0) for op in ("create", "batch", "update", "delete", "void"))


async def _revoked(emu, realm: str) -> bool:
    issued = await emu.issued_tokens(realm)
    return bool(issued) and all(t["revoked"] for t in issued)


async def test_live_partner_choosing_another_company_is_refused(app_client, connected, emu, db_pool) -> None:
    pid, realm = connected["pid"], connected["realm"]
    other = await emu.create_company(customers=3, invoices=3)  # the same small invoice ids as the partner's
    before = await snapshot(db_pool, pid)

    refused = await oauth_round_trip(app_client, pid, other)
    err = assert_error(refused, 409, "realm_mismatch", needle=realm)
    assert other in err["message"] and "disconnect" in err["message"]
    assert await snapshot(db_pool, pid) == before, "a refused callback changed stored data"
    assert await _revoked(emu, other), "the refused grant was not given back"

    # A browser gets a page that says so.
    path, query = await _consent(app_client, pid, other)
    page = await app_client.get(f"{path}?{urlencode(query)}", headers={"accept": "text/html"})
    assert page.status_code == 409 and page.headers["content-type"].startswith("text/html")
    assert "realm_mismatch" in page.text and "not connected" in page.text.lower()

    # The partner keeps working with its own company; nothing ever reaches the other one.
    status = (await app_client.get(f"/partners/{pid}/qbo")).json()
    assert status["realm_id"] == realm and status["state"] == "active", status
    invoice = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"][0]
    pay = (await app_client.post(f"/partners/{pid}/invoices/{invoice['id']}/payments",
                                 json={"amount": "1.00"})).json()

    async def posted() -> bool:
        payments = {p["id"]: p for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]}
        assert payments[pay["id"]]["status"] == "posted"
        return True

    await eventually(posted, timeout=60, what="the payment to post into the partner's own company")
    assert await _writes(emu, other) == 0, "something was written into the other company"


async def test_edited_realm_id_is_refused_before_anything_is_stored(app_client, connected, new_partner, emu,
                                                                     db_pool) -> None:
    """`realmId` is browser-editable: not digits → refused before the code is used; another company's id
    (here a live partner's) → the grant doesn't open it, refused, and the live partner is untouched (its
    grant is not revoked: revoking ends the app's access to a company, qbo-reference §10.4)."""
    victim_pid, victim_realm = connected["pid"], connected["realm"]
    pid = await new_partner()
    own = await emu.create_company(customers=1, invoices=1)
    before = await snapshot(db_pool, pid)

    for bad in ("12a4", "../../v3/company/1", "1" * 21):
        path, query = await _consent(app_client, pid, own)
        assert_error(await app_client.get(f"{path}?{urlencode({**query, 'realmId': bad})}"), 400, "bad_callback")
    assert not await emu.issued_tokens(own), "a code was exchanged for a callback refused on its realmId"

    path, query = await _consent(app_client, pid, own)
    squat = await app_client.get(f"{path}?{urlencode({**query, 'realmId': victim_realm})}")
    assert_error(squat, 400, "realm_not_confirmed", needle=victim_realm)
    assert await snapshot(db_pool, pid) == before
    assert not any(t["revoked"] for t in await emu.issued_tokens(victim_realm)), "the victim was disconnected"
    victim = (await app_client.get(f"/partners/{victim_pid}/qbo")).json()
    assert victim["state"] == "active" and victim["realm_id"] == victim_realm
    assert await db_pool.fetchval("SELECT partner_id FROM qbo_connections WHERE realm_id = $1 "
                                  "AND state <> 'disconnected'", victim_realm) == victim_pid


async def test_after_disconnect_another_company_is_onboarded_afresh(app_client, connected, emu, db_pool) -> None:
    pid, old = connected["pid"], connected["realm"]
    old_invoices = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    gone = await app_client.post(f"/partners/{pid}/qbo/disconnect")
    assert gone.status_code == 200, gone.text
    # A payment recorded while disconnected waits for the old company.
    waiting = (await app_client.post(f"/partners/{pid}/invoices/{old_invoices[0]['id']}/payments",
                                     json={"amount": "2.00"})).json()
    assert waiting["status"] == "pending"

    new = await emu.create_company(customers=2, invoices=4)
    done = await oauth_round_trip(app_client, pid, new)
    assert done.status_code == 200 and "started" in done.text, done.text

    async def onboarded() -> dict | None:
        body = (await app_client.get(f"/partners/{pid}/qbo")).json()
        ok = body["state"] == "active" and body["realm_id"] == new and body["last_synced_at"]
        assert ok, body
        return body

    status = await eventually(onboarded, timeout=90, what="the new company to be onboarded")
    listed = (await app_client.get(f"/partners/{pid}/invoices?include_archived=true")).json()["items"]
    assert len(listed) == 4 and not {i["id"] for i in listed} & {i["id"] for i in old_invoices}
    assert status["counts"]["invoices"] == 4, status["counts"]
    account_ids = {a["id"] for a in status["accounts"]}
    assert status["preferences"]["payment_account_id"] in account_ids, "preferences of the old company kept"

    payments = {p["id"]: p for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]}
    assert payments[waiting["id"]]["status"] == "not_synced", payments[waiting["id"]]
    assert old in payments[waiting["id"]]["attention_reason"]
    assert await _writes(emu, new) <= 1, "only the fee account may be created in the new company"
    assert not (await emu.requests(new))["by_operation"].get("batch"), "a payment was posted into the new company"
    # The old company's invoices take no more payments.
    assert_error(await app_client.post(f"/partners/{pid}/invoices/{old_invoices[1]['id']}/payments",
                                       json={"amount": "1.00"}), 409, needle=old)
    logged = await db_pool.fetchval("SELECT reason FROM sync_log WHERE partner_id = $1 AND entity = 'Connection'", pid)
    assert logged and new in logged and old in logged


async def test_qbo_busy_while_confirming_is_not_a_refusal(app_client, new_partner, emu, db_pool) -> None:
    """A 429 on the CompanyInfo read says nothing about the grant: 503 "try again", nothing stored (not
    `realm_not_confirmed`, which would tell the partner their choice was wrong)."""
    pid = await new_partner()
    realm = await emu.create_company(customers=1, invoices=1)
    before = await snapshot(db_pool, pid)
    await emu.faults(realm, rate_429=1.0)
    try:
        busy = await oauth_round_trip(app_client, pid, realm)
    finally:
        await emu.faults(realm)
    assert_error(busy, 503, "qbo_unavailable", needle="nothing was stored")
    assert await snapshot(db_pool, pid) == before


async def test_a_company_live_for_another_partner_is_refused_and_never_revoked(app_client, connected, new_partner,
                                                                                emu, db_pool) -> None:
    """`realm_in_use`: partner B picks the company partner A is live on. Refused, nothing stored, and the new
    grant is left unused rather than revoked (revoking ends the app's access to the company, A's too,
    qbo-reference §10.4). Then B, live on its own company, picks A's again: `realm_mismatch`, whose grant is
    normally given back, but not while A is live there."""
    owner, realm = connected["pid"], connected["realm"]
    pid = await new_partner()
    before = await snapshot(db_pool, pid)
    refused = await oauth_round_trip(app_client, pid, realm)
    assert_error(refused, 409, "realm_in_use", needle=realm)
    assert await snapshot(db_pool, pid) == before, "a refused callback changed stored data"
    issued = await emu.issued_tokens(realm)
    assert len({t["grant_id"] for t in issued}) == 2, "the new grant was not exchanged (the test proves nothing)"
    assert not any(t["revoked"] for t in issued), "a grant on the owner's company was revoked"

    own = await emu.create_company(customers=1, invoices=1)
    assert (await oauth_round_trip(app_client, pid, own)).status_code == 200
    assert_error(await oauth_round_trip(app_client, pid, realm), 409, "realm_mismatch", needle=own)
    issued = await emu.issued_tokens(realm)
    assert len({t["grant_id"] for t in issued}) == 3 and not any(t["revoked"] for t in issued)
    status = (await app_client.get(f"/partners/{owner}/qbo")).json()
    assert status["state"] == "active" and status["realm_id"] == realm
    assert await db_pool.fetchval("SELECT partner_id FROM qbo_connections WHERE realm_id = $1 "
                                  "AND state <> 'disconnected'", realm) == owner


async def test_reconnect_after_disconnect_resumes_the_same_company(app_client, connected, emu, db_pool,
                                                                   temporal_env) -> None:
    """Disconnect, then connect the same company again: a new workflow run onboards it with the preferences the
    partner chose (not the defaults), the partner's invoices are the same rows (not set aside as another
    company's), and a payment recorded while disconnected is posted into it."""
    from starter.partners import handle_for

    pid, realm = connected["pid"], connected["realm"]
    first_run = (await handle_for(temporal_env.client, pid).describe()).run_id
    invoices = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    chosen = (await app_client.get(f"/partners/{pid}/qbo")).json()["preferences"] | {"time_zone": "Europe/Paris"}
    assert (await app_client.put(f"/partners/{pid}/qbo/preferences", json=chosen)).status_code == 200
    assert (await app_client.post(f"/partners/{pid}/qbo/disconnect")).status_code == 200
    waiting = (await app_client.post(f"/partners/{pid}/invoices/{invoices[0]['id']}/payments",
                                     json={"amount": "2.00"})).json()
    assert waiting["status"] == "pending"
    disconnected_at = await db_pool.fetchval("SELECT disconnected_at FROM qbo_connections WHERE partner_id = $1", pid)
    assert disconnected_at is not None

    back = await oauth_round_trip(app_client, pid, realm)
    assert back.status_code == 200 and "started" in back.text, back.text
    assert (await handle_for(temporal_env.client, pid).describe()).run_id != first_run

    async def posted() -> dict | None:
        payments = {p["id"]: p for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]}
        return payments[waiting["id"]] if payments[waiting["id"]]["status"] == "posted" else None

    payment = await eventually(posted, timeout=90, what="the waiting payment to post after the reconnect")
    assert payment["qbo_payment_id"] and (await emu.requests(realm))["by_operation"].get("batch")
    status = (await app_client.get(f"/partners/{pid}/qbo")).json()
    assert status["state"] == "active" and status["realm_id"] == realm
    assert status["preferences"] == chosen, "a disconnect keeps the data (§5): the partner's choices come back"
    again = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    assert {i["id"] for i in again} == {i["id"] for i in invoices}
    assert await db_pool.fetchval("SELECT count(*) FROM sync_log WHERE partner_id = $1 AND entity = 'Connection'",
                                  pid) == 0, "a reconnect to the same company was logged as a company switch"
    assert await db_pool.fetchval("SELECT disconnected_at FROM qbo_connections WHERE partner_id = $1", pid) is None
