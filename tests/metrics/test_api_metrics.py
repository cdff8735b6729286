"""`GET /metrics` of the API against real parts: the numbers move when what they count happens.

Counters are process-wide, so each test compares a scrape before with one after (deltas), never absolute
values; the fleet gauges are read from the session's PostgreSQL at scrape time."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from pydantic import SecretStr

from qbo.errors import QboAuthError, QboThrottled, QboUnauthorized
from qbo.http import QboHttp
from qbo_emulator.webhooks import sign
from tests.api.conftest import running_app
from tests.helpers import eventually
from tests.metrics.scrape import scrape, series, value


def qbo_http(settings) -> QboHttp:
    hosts = settings.qbo_hosts
    return QboHttp(api_base=hosts.api_base, token_url=hosts.token_url, revoke_url=hosts.revoke_url,
                   client_id=settings.qbo_client_id, client_secret=settings.qbo_client_secret)


async def test_qbo_calls_are_counted_by_operation_and_status(app_client, emu, api_settings) -> None:
    realm = await emu.create_company(customers=1, invoices=1)
    token = SecretStr((await emu.tokens(realm))["access_token"])
    http = qbo_http(api_settings)
    labels = {"operation": "companyinfo", "method": "GET"}
    try:
        before = await scrape(app_client)
        await http.api(realm, "GET", f"companyinfo/{realm}", token=token)
        with pytest.raises(QboUnauthorized):
            await http.api(realm, "GET", f"companyinfo/{realm}", token=SecretStr("not-a-token"))
        after = await scrape(app_client)
    finally:
        await http.aclose()
    for status in ("200", "401"):
        assert value(after, "qbo_requests_total", **labels, status=status) == \
            value(before, "qbo_requests_total", **labels, status=status) + 1, status
    hist = "qbo_request_duration_seconds_count"
    assert value(after, hist, operation="companyinfo") - value(before, hist, operation="companyinfo") == 2
    # The path's realm id never becomes a label value: operations are a closed set.
    assert not any(realm in v for (_, labels_) in after for _, v in labels_)


async def test_a_429_counts_one_cooldown_and_the_cooldown_sends_nothing(app_client, emu, api_settings) -> None:
    realm = await emu.create_company(customers=1, invoices=1)
    token = SecretStr((await emu.tokens(realm))["access_token"])
    http = qbo_http(api_settings)
    await emu.faults(realm, rate_429=1.0)
    try:
        before = await scrape(app_client)
        with pytest.raises(QboThrottled):
            await http.api(realm, "POST", "query", token=token, text="SELECT * FROM Customer")
        middle = await scrape(app_client)
        with pytest.raises(QboThrottled):  # the realm cools down: refused here, not sent
            await http.api(realm, "POST", "query", token=token, text="SELECT * FROM Customer")
        after = await scrape(app_client)
    finally:
        await emu.faults(realm, rate_429=0.0)
        await http.aclose()
    calls = {"operation": "query", "method": "POST", "status": "429"}
    assert value(middle, "qbo_throttle_cooldowns_total") == value(before, "qbo_throttle_cooldowns_total") + 1
    assert value(middle, "qbo_requests_total", **calls) == value(before, "qbo_requests_total", **calls) + 1
    assert value(after, "qbo_throttle_cooldowns_total") == value(middle, "qbo_throttle_cooldowns_total")
    assert value(after, "qbo_requests_total", **calls) == value(middle, "qbo_requests_total", **calls)


async def test_webhook_deliveries_and_events_by_outcome(app_client, api_settings, db_pool) -> None:
    verifier = api_settings.qbo_webhook_verifier_token.get_secret_value()
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "intuit.x", "type": "qbo.invoice.updated.v1",
             "intuitentityid": "1", "intuitaccountid": f"9{uuid.uuid4().int % 10**12}", "data": {}}
    body = json.dumps([event]).encode()
    headers = {"content-type": "application/cloudevents+json", "intuit-signature": sign(verifier, body)}

    def moved(after, before, metric: str, outcome: str) -> float:
        return value(after, metric, outcome=outcome) - value(before, metric, outcome=outcome)

    unknown = "SELECT count(*) FROM webhook_events WHERE route_result = 'unknown_realm'"
    before, closed_before = await scrape(app_client), await db_pool.fetchval(unknown)
    assert (await app_client.post("/webhooks/qbo", content=body, headers=headers)).status_code == 200
    assert (await app_client.post("/webhooks/qbo", content=body, headers=headers)).status_code == 200  # redelivery
    bad = await app_client.post("/webhooks/qbo", content=body, headers={**headers, "intuit-signature": "AAAA"})
    assert bad.status_code == 401
    after = await scrape(app_client)
    assert moved(after, before, "qbo_webhook_deliveries_total", "accepted") == 2
    assert moved(after, before, "qbo_webhook_deliveries_total", "bad_signature") == 1
    assert moved(after, before, "qbo_webhook_events_total", "new") == 1
    assert moved(after, before, "qbo_webhook_events_total", "duplicate") == 1

    async def routed():  # the realm is nobody's: the routing task closes the event as unknown_realm,
        # together with whatever unknown-realm events earlier tests left unrouted (counted too)
        result = await db_pool.fetchval("SELECT route_result FROM webhook_events WHERE event_id = $1", event["id"])
        closed = await db_pool.fetchval(unknown) - closed_before
        assert result == "unknown_realm" and moved(await scrape(app_client), before, "qbo_webhook_events_total",
                                                   "unknown_realm") == closed >= 1
        return True

    await eventually(routed, what="the event to be routed as unknown_realm")


async def test_postings_lag_and_attention_follow_the_database(app_client, connected, db_pool) -> None:
    pid = connected["pid"]
    await db_pool.execute("UPDATE qbo_connections SET last_synced_at = now() - interval '2 hours' "
                          "WHERE partner_id = $1", pid)
    before = await scrape(app_client)
    assert value(before, "qbo_fleet_up") == 1
    assert value(before, "qbo_partners", state="active") >= 1
    assert value(before, "qbo_sync_lag_seconds", partner_id=pid) >= 7200

    invoices = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    iid = next(i["id"] for i in invoices if Decimal(i["balance"]) >= 10)
    pay = await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "10.00"})
    assert pay.status_code == 201, pay.text

    def postings(samples, status: str) -> float:
        return value(samples, "qbo_postings", kind="payment", status=status)

    def succeeded(samples) -> float:
        return sum(v for labels, v in series(samples, "qbo_sync_cycles_total").items() if ("outcome", "succeeded") in labels)

    async def posted():  # the nudge runs a cycle that posts it, which also ends the lag
        now = await scrape(app_client)
        done = postings(now, "posted") == postings(before, "posted") + 1
        assert done and value(now, "qbo_sync_lag_seconds", partner_id=pid) < 7200
        # The cycle is counted just after its run is closed (activities/sync.py): a scrape between the two
        # saw the lag ended and the counter not yet moved (seen under pytest-xdist), so wait for both.
        assert succeeded(now) > succeeded(before)
        return now

    after = await eventually(posted, timeout=90, what="the payment posted and a cycle finished and counted")
    assert postings(after, "pending") == postings(before, "pending")
    assert succeeded(after) > succeeded(before)

    code = {"kind": "payment", "code": "changed_in_qbo"}
    await db_pool.execute("UPDATE payments SET status = 'needs_attention', attention_code = 'changed_in_qbo', "
                          "attention_reason = 'QBO Payment was voided' WHERE id = $1", pay.json()["id"])
    parked = await scrape(app_client)
    assert value(parked, "qbo_needs_attention", **code) == value(after, "qbo_needs_attention", **code) + 1
    assert postings(parked, "posted") == postings(after, "posted") - 1


async def test_token_refreshes_and_failures(app_client, connected, db_pool, emu, api_settings) -> None:
    from qbo.client import QboApi

    pid, realm = connected["pid"], connected["realm"]
    qbo = QboApi(api_settings, db_pool)
    try:
        before = await scrape(app_client)
        version = (await qbo.tokens.connection(pid)).token_version
        await qbo.tokens.refresh(pid, seen_version=version)
        middle = await scrape(app_client)
        await emu.revoke(realm)
        with pytest.raises(QboAuthError):
            await qbo.tokens.refresh(pid, seen_version=version + 1)
        after = await scrape(app_client)
    finally:
        await qbo.aclose()
    name = "qbo_token_refreshes_total"
    assert value(middle, name, outcome="ok") == value(before, name, outcome="ok") + 1
    assert value(after, name, outcome="invalid_grant") == value(middle, name, outcome="invalid_grant") + 1
    assert value(after, name, outcome="ok") == value(middle, name, outcome="ok")


async def test_backfill_progress_shows_only_running_backfills(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    await db_pool.execute(
        "INSERT INTO backfill_progress (partner_id, entity, fetched, total, done) VALUES "
        "($1, 'Customer', 1000, 1000, true), ($1, 'Invoice', 2000, 5000, false)", pid)
    running = await scrape(app_client)
    assert value(running, "qbo_backfill_fetched_objects", partner_id=pid) == 3000
    assert value(running, "qbo_backfill_total_objects", partner_id=pid) == 6000
    await db_pool.execute("UPDATE backfill_progress SET fetched = 5000, done = true WHERE partner_id = $1", pid)
    finished = await scrape(app_client)
    assert ("qbo_backfill_total_objects", frozenset({("partner_id", pid)})) not in finished


async def test_metrics_need_the_api_key_when_one_is_set(api_settings, task_queue) -> None:
    """The lag gauge names every partner: /metrics is behind the key like the rest of the API."""
    keyed = api_settings.model_copy(update={"api_key": SecretStr("metrics-key")})
    async with running_app(keyed, task_queue) as (_, http):
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await scrape(http, headers={"Authorization": "Bearer metrics-key"})
        assert value(ok, "qbo_fleet_up") == 1
