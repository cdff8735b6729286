"""`POST /webhooks/qbo`: signature, content type, malformed bodies, unknown realms, duplicate event ids (and
redelivered legacy notifications), what is stored, a realm with no workflow, one partner's failed signal,
mixed realms in one delivery, legacy payloads, and Temporal down (still a fast 200, the event kept)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from qbo_emulator.webhooks import sign
from starter import partners as partner_workflows
from tests.api.conftest import assert_error
from tests.helpers import eventually

CE = "application/cloudevents+json"


@pytest.fixture
def verifier(api_settings) -> str:
    return api_settings.qbo_webhook_verifier_token.get_secret_value()


def cloudevent(realm: str, entity_id: str = "1", event_id: str | None = None) -> dict:
    return {"specversion": "1.0", "id": event_id or str(uuid.uuid4()), "source": "intuit.x",
            "type": "qbo.invoice.updated.v1", "datacontenttype": "application/json",
            "time": "2026-11-27T10:00:00Z", "intuitentityid": entity_id, "intuitaccountid": realm, "data": {}}


async def post(http, verifier: str, payload, content_type: str = CE, signature: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"content-type": content_type, "intuit-signature": signature or sign(verifier, body)}
    return await http.post("/webhooks/qbo", content=body, headers=headers)


async def connected_partner(db_pool, temporal_env, task_queue) -> tuple[str, str]:
    """A partner with a live connection row and a running workflow (no worker needed to take a signal)."""
    pid, realm = f"p_{uuid.uuid4().hex[:16]}", f"9{uuid.uuid4().int % 10**12}"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, 'Hooked')", pid)
    await db_pool.execute("INSERT INTO qbo_connections (partner_id, realm_id, state) VALUES ($1, $2, 'active')",
                          pid, realm)
    await partner_workflows.start_or_reconnect(temporal_env.client, pid, realm, sync_interval_seconds=3600, task_queue=task_queue)
    return pid, realm


async def routing_done(app_client) -> None:
    """Wait until the API's background routing tasks have finished (no fixed sleep)."""
    tasks = app_client._transport.app.state.webhook_tasks
    await eventually(lambda: _value(not tasks), what="background routing to finish")


async def _value(value):
    return value


async def route_result(db_pool, event_id: str) -> str | None:
    return await db_pool.fetchval("SELECT route_result FROM webhook_events WHERE event_id = $1", event_id)


async def signals(temporal_env, pid: str) -> int:
    """The signals in the workflow's history now. Exact only while no workflow task runs (no worker polls
    the partner's task queue): a signal that arrives during one is buffered by Temporal and written after it.
    With a worker, wait with `signalled`."""
    history = await partner_workflows.handle_for(temporal_env.client, pid).fetch_history()
    return sum(1 for e in history.events if e.HasField("workflow_execution_signaled_event_attributes"))


async def signalled(temporal_env, pid: str, n: int) -> None:
    """Wait until the workflow's history holds `n` signals. A signal that arrives while a workflow task is
    running is buffered by Temporal and written after that task, so a count read at once may be short."""
    async def count() -> bool:
        got = await signals(temporal_env, pid)
        assert got == n, got
        return True

    await eventually(count, what=f"{n} signals in the history")


async def test_bad_signature_is_401_and_stores_nothing(app_client, verifier, db_pool) -> None:
    event = cloudevent("123")
    assert_error(await post(app_client, verifier, [event], signature="AAAA"), 401, "bad_signature")
    body = json.dumps([event]).encode()
    resp = await app_client.post("/webhooks/qbo", content=body, headers={"content-type": CE})
    assert_error(resp, 401, "bad_signature")
    assert await route_result(db_pool, event["id"]) is None
    assert not await db_pool.fetchval("SELECT count(*) FROM webhook_events WHERE event_id = $1", event["id"])


async def test_signed_but_unusable_is_acknowledged(app_client, verifier, db_pool) -> None:
    before = await db_pool.fetchval("SELECT count(*) FROM webhook_events")
    for payload, ctype, why in [([cloudevent("1")], "text/plain", "content type"),
                                (b"{not json", CE, "not JSON"),
                                ({"hello": 1}, "application/json", "neither")]:
        resp = await post(app_client, verifier, payload, ctype)
        assert resp.status_code == 200, resp.text
        assert resp.json()["new"] == 0 and why in resp.json()["ignored"]
    assert await db_pool.fetchval("SELECT count(*) FROM webhook_events") == before


async def test_mixed_realms_duplicates_and_unknown_realm(app_client, verifier, db_pool, temporal_env,
                                                         task_queue) -> None:
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    known, unknown = cloudevent(realm, "7"), cloudevent("555000111")
    resp = await post(app_client, verifier, [known, unknown])
    assert resp.status_code == 200 and resp.json() == {"received": 2, "new": 2, "ignored": None}
    assert await eventually(lambda: route_result(db_pool, known["id"]), what="routing") == "signalled"
    assert await eventually(lambda: route_result(db_pool, unknown["id"]), what="routing") == "unknown_realm"
    assert await signals(temporal_env, pid) == 1
    again = await post(app_client, verifier, [known])
    assert again.status_code == 200 and again.json()["new"] == 0
    await routing_done(app_client)
    assert await signals(temporal_env, pid) == 1


async def test_legacy_payload_is_routed(app_client, verifier, db_pool, temporal_env, task_queue) -> None:
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    payload = {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": "12", "operation": "Update", "lastUpdated": "2026-11-27T10:00:00.000Z"}]}}]}
    resp = await post(app_client, verifier, payload, "application/json")
    assert resp.status_code == 200 and resp.json()["new"] == 1

    async def routed() -> bool:
        return bool(await db_pool.fetchval(
            "SELECT count(*) FROM webhook_events WHERE realm_id = $1 AND route_result = 'signalled'", realm))

    await eventually(routed, what="legacy event routed")
    assert await signals(temporal_env, pid) == 1


async def test_temporal_down_still_fast_and_not_lost(app_client, verifier, db_pool, temporal_env, task_queue,
                                                     monkeypatch) -> None:
    from api import webhooks

    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)

    released = asyncio.Event()  # set by this test once it holds the answer
    attempts: list[str] = []

    async def hang(_client, partner_id, *_a, **_k) -> None:  # Temporal that never answers
        attempts.append(partner_id)
        try:
            await asyncio.Event().wait()
        finally:  # the route timeout cancels this; it can't end before the webhook was answered
            await released.wait()

    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", hang)
    monkeypatch.setattr(webhooks, "ROUTE_TIMEOUT", 0.5)
    event = cloudevent(realm)
    answer = asyncio.create_task(post(app_client, verifier, [event]))
    # Answered although routing is stuck on Temporal: the work happens after the answer. A receive that
    # routed inline would be stuck in `hang` until `released`, which is only set once the answer is here.
    try:
        await eventually(lambda: _value(answer.done()), timeout=15, what="the answer while routing is stuck")
    finally:
        if not answer.done():  # let a stuck request end
            released.set()
            await answer
    resp = answer.result()
    assert resp.status_code == 200
    await eventually(lambda: _value(attempts == [pid]), what="routing to try Temporal")
    assert app_client._transport.app.state.webhook_tasks, "routing must still be stuck on Temporal"
    released.set()
    await routing_done(app_client)
    row = await db_pool.fetchrow("SELECT routed_at FROM webhook_events WHERE event_id = $1", event["id"])
    assert row is not None and row["routed_at"] is None, "the event must be kept for a retry"
    monkeypatch.undo()
    app = app_client._transport.app
    await webhooks.route_pending(app)
    assert await route_result(db_pool, event["id"]) == "signalled"
    assert await signals(temporal_env, pid) == 1


async def test_a_backlog_larger_than_a_batch_is_routed_in_one_go(app_client, verifier, db_pool, temporal_env,
                                                                 task_queue, monkeypatch) -> None:
    """Routing works batch after batch while batches close events, instead of one batch per retry turn."""
    from api import webhooks

    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    stranger = f"8{uuid.uuid4().int % 10**12}"
    events = [cloudevent(stranger) for _ in range(7)] + [cloudevent(realm)]
    monkeypatch.setattr(webhooks, "spawn_routing", lambda app: None)  # keep them unrouted for now
    assert (await post(app_client, verifier, events)).status_code == 200
    monkeypatch.undo()
    await webhooks.route_pending(app_client._transport.app, batch=3)
    results = [await route_result(db_pool, e["id"]) for e in events]
    assert results == ["unknown_realm"] * 7 + ["signalled"]


async def stored(db_pool, event_id: str) -> dict:
    row = await db_pool.fetchrow("SELECT realm_id, entity, entity_id, operation, route_result FROM webhook_events "
                                 "WHERE event_id = $1", event_id)
    return dict(row) if row else {}


async def test_stored_entity_and_operation_of_both_formats(app_client, verifier, db_pool, temporal_env,
                                                           task_queue) -> None:
    """What is stored is what the delivery said: the CloudEvents type `qbo.invoice.updated.v1` gives entity
    `Invoice` and operation `updated`; a legacy entity its name, id and operation as sent."""
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    event = {**cloudevent(realm, "41"), "type": "qbo.customer.deleted.v1"}
    assert (await post(app_client, verifier, [event])).json()["new"] == 1
    row = await stored(db_pool, event["id"])
    assert {k: row[k] for k in ("realm_id", "entity", "entity_id", "operation")} == {
        "realm_id": realm, "entity": "Customer", "entity_id": "41", "operation": "deleted"}
    legacy = {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
        {"name": "Payment", "id": "77", "operation": "Void", "lastUpdated": "2026-11-27T10:00:00.000Z"}]}}]}
    assert (await post(app_client, verifier, legacy, "application/json")).json()["new"] == 1
    row = await db_pool.fetchrow("SELECT entity, entity_id, operation FROM webhook_events WHERE realm_id = $1 "
                                 "AND event_id LIKE 'legacy-%'", realm)
    assert dict(row) == {"entity": "Payment", "entity_id": "77", "operation": "Void"}


async def test_a_redelivered_legacy_notification_is_deduplicated(app_client, verifier, db_pool, temporal_env,
                                                                 task_queue) -> None:
    """Legacy notifications carry no event id: the same entity change delivered again (Intuit retries) is one
    event, one signal; the same entity changed again (a new lastUpdated) is a new event."""
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)

    def note(last_updated: str) -> dict:
        return {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
            {"name": "Invoice", "id": "12", "operation": "Update", "lastUpdated": last_updated}]}}]}

    first = await post(app_client, verifier, note("2026-11-27T10:00:00.000Z"), "application/json")
    assert first.json() == {"received": 1, "new": 1, "ignored": None}
    await routing_done(app_client)
    again = await post(app_client, verifier, note("2026-11-27T10:00:00.000Z"), "application/json")
    assert again.status_code == 200 and again.json() == {"received": 1, "new": 0, "ignored": None}
    await routing_done(app_client)
    count = "SELECT count(*) FROM webhook_events WHERE realm_id = $1"
    assert await db_pool.fetchval(count, realm) == 1 and await signals(temporal_env, pid) == 1
    later = await post(app_client, verifier, note("2026-11-27T10:05:00.000Z"), "application/json")
    assert later.json()["new"] == 1 and await db_pool.fetchval(count, realm) == 2


async def test_a_realm_whose_partner_has_no_workflow_is_closed_as_no_workflow(app_client, verifier, db_pool) -> None:
    """A live connection whose workflow Temporal doesn't know (not started yet, or gone): the event is closed
    `no_workflow` (Temporal answered, so a retry would get the same answer), not kept for ever."""
    pid, realm = f"p_{uuid.uuid4().hex[:16]}", f"9{uuid.uuid4().int % 10**12}"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, 'No workflow')", pid)
    await db_pool.execute("INSERT INTO qbo_connections (partner_id, realm_id, state) VALUES ($1, $2, 'active')",
                          pid, realm)
    event = cloudevent(realm)
    assert (await post(app_client, verifier, [event])).json()["new"] == 1
    assert await eventually(lambda: route_result(db_pool, event["id"]), what="routing") == "no_workflow"
    assert await db_pool.fetchval("SELECT routed_at FROM webhook_events WHERE event_id = $1", event["id"])


async def test_one_partners_failed_signal_does_not_hold_back_the_others(app_client, verifier, db_pool, temporal_env,
                                                                         task_queue, monkeypatch) -> None:
    """Temporal refuses partner A's signal (UNAVAILABLE) while B's goes through: B's events are routed in the
    same pass, A's stay unrouted (kept for the retry loop) and are routed once A's signal works."""
    from temporalio.service import RPCError, RPCStatusCode

    from api import webhooks

    a, realm_a = await connected_partner(db_pool, temporal_env, task_queue)
    b, realm_b = await connected_partner(db_pool, temporal_env, task_queue)
    real_sync_now = webhooks.partner_workflows.sync_now

    async def refuse_a(client, partner_id: str) -> None:
        if partner_id == a:
            raise RPCError("service unavailable", RPCStatusCode.UNAVAILABLE, b"")
        await real_sync_now(client, partner_id)

    monkeypatch.setattr(webhooks, "spawn_routing", lambda app: None)  # route by hand, A's delivery first
    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", refuse_a)  # before the events exist: the retry loop too
    first, second = cloudevent(realm_a), cloudevent(realm_b)
    assert (await post(app_client, verifier, [first])).json()["new"] == 1
    assert (await post(app_client, verifier, [second])).json()["new"] == 1
    app = app_client._transport.app
    await webhooks.route_pending(app)
    assert await route_result(db_pool, second["id"]) == "signalled" and await signals(temporal_env, b) == 1
    assert (await stored(db_pool, first["id"]))["route_result"] is None
    assert await signals(temporal_env, a) == 0
    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", real_sync_now)
    await webhooks.route_pending(app)
    assert await route_result(db_pool, first["id"]) == "signalled" and await signals(temporal_env, a) == 1
