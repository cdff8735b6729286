"""The running API's retry loop (api/app.py `retry_loop`) finishes by itself what met Temporal down: webhook
events stored unrouted, and partner workflows an OAuth callback could not start. No test step calls
`route_pending` or `start_pending_workflows`: only the app's own loop can do the work watched for here."""

from __future__ import annotations

import uuid

from temporalio.service import RPCError, RPCStatusCode

from tests.api.conftest import oauth_round_trip, running_app
from tests.api.test_webhooks import cloudevent, connected_partner, post, route_result, signalled, verifier
from tests.helpers import eventually

__all__ = ["verifier"]  # the fixture, imported for pytest


async def test_the_running_app_routes_events_and_starts_workflows_by_itself(
        api_settings, task_queue, temporal_env, db_pool, emu, worker, verifier, monkeypatch) -> None:
    from api import oauth, webhooks

    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)  # a running workflow, no worker needed

    # The receive stores events but never routes them (as when its own routing met Temporal down): only the
    # loop routes. Its first turn fails outright: the loop must survive a failing step.
    monkeypatch.setattr(webhooks, "spawn_routing", lambda app: None)
    route_pending, turns = webhooks.route_pending, []

    async def first_turn_fails(app, *args, **kwargs):
        turns.append(len(turns))
        if len(turns) == 1:
            raise RuntimeError("PostgreSQL blinked")
        return await route_pending(app, *args, **kwargs)

    monkeypatch.setattr(webhooks, "route_pending", first_turn_fails)

    # Temporal unreachable for workflow starts, until the test lets it answer.
    start_or_reconnect, tried = oauth.partner_workflows.start_or_reconnect, []

    async def unavailable(_client, partner_id, *_a, **_k):
        tried.append(partner_id)
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(oauth.partner_workflows, "start_or_reconnect", unavailable)

    async with running_app(api_settings, task_queue, retry_every=0.05) as (_, http):
        event = cloudevent(realm)
        assert (await post(http, verifier, [event])).status_code == 200

        async def routed() -> bool:
            assert await route_result(db_pool, event["id"]) == "signalled"
            return True

        await eventually(routed, timeout=60, what="the retry loop to route the stored event")
        assert turns[0] == 0 and len(turns) >= 2, "routed by a turn after the failed one"
        # The worker runs this partner's workflow: its signal may be buffered behind a workflow task.
        await signalled(temporal_env, pid, 1)

        newcomer = (await http.post("/partners", json={"name": f"Late {uuid.uuid4().hex[:6]}"})).json()["id"]
        company = await emu.create_company(customers=2, invoices=2)
        done = await oauth_round_trip(http, newcomer, company)
        assert done.status_code == 200 and "starts automatically" in done.text, done.text

        async def retried_twice() -> bool:  # the callback's own try, then the loop's
            assert tried.count(newcomer) >= 3
            return True

        await eventually(retried_twice, timeout=60, what="the retry loop to keep trying the start")
        assert await db_pool.fetchval("SELECT workflow_pending FROM qbo_connections WHERE partner_id = $1",
                                      newcomer)
        monkeypatch.setattr(oauth.partner_workflows, "start_or_reconnect", start_or_reconnect)  # Temporal answers again

        async def started() -> bool:
            return await db_pool.fetchval(
                "SELECT NOT workflow_pending FROM qbo_connections WHERE partner_id = $1", newcomer)

        await eventually(started, timeout=60, what="the retry loop to start the pending workflow")

        async def active() -> bool:
            assert (await http.get(f"/partners/{newcomer}/qbo")).json()["state"] == "active"
            return True

        await eventually(active, timeout=90, what="the loop-started workflow to onboard the partner")
