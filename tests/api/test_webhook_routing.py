"""Routing webhook events while deliveries keep coming (bench/webhook_load.py): each delivery starts a
routing pass; a pass must leave alone the events another pass is already routing (or every event is
signalled two or three times under load), and one partner slow to answer must not hold up the others."""

from __future__ import annotations

import asyncio

from api import webhooks
from tests.api.test_webhooks import cloudevent, connected_partner, post, route_result, routing_done, signals
from tests.api.test_webhooks import verifier as verifier  # noqa: F401 (the fixture)
from tests.helpers import eventually


async def _value(value):
    return value


async def test_an_event_being_routed_is_not_routed_again_and_does_not_hold_up_others(
    app_client, verifier, db_pool, temporal_env, task_queue, monkeypatch  # noqa: F811
) -> None:
    slow_pid, slow_realm = await connected_partner(db_pool, temporal_env, task_queue)
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    real_sync_now = webhooks.partner_workflows.sync_now
    released = asyncio.Event()
    calls: list[str] = []

    async def sync_now(client, partner_id) -> None:  # the slow partner's workflow answers once released
        calls.append(partner_id)
        if partner_id == slow_pid:
            await released.wait()
        await real_sync_now(client, partner_id)

    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", sync_now)
    monkeypatch.setattr(webhooks, "ROUTE_TIMEOUT", 60.0)  # slow, not failed: the first pass keeps its claim
    held, other = cloudevent(slow_realm, "1"), cloudevent(realm, "2")
    try:
        assert (await post(app_client, verifier, [held])).status_code == 200
        await eventually(lambda: _value(calls == [slow_pid]), what="the first pass to reach Temporal")
        assert (await post(app_client, verifier, [other])).status_code == 200
        # The second delivery's pass sees both events unrouted; it routes only its own, at once.
        assert await eventually(lambda: route_result(db_pool, other["id"]), timeout=20,
                                what="the other partner's event routed while the first is slow") == "signalled"
        assert calls == [slow_pid, pid]
        assert await route_result(db_pool, held["id"]) is None
    finally:
        released.set()
    await routing_done(app_client)
    assert await route_result(db_pool, held["id"]) == "signalled"
    assert calls == [slow_pid, pid]
    assert await signals(temporal_env, slow_pid) == 1 and await signals(temporal_env, pid) == 1
