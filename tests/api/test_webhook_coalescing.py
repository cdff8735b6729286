"""Coalesced `sync_now` signals (issue 15 item 4, api/webhooks.py, store/sync_requests.py): a partner whose
signal is outstanding is not signalled again for every event; the cycle's `fetch_changes` clears the request
before it reads CDC, so a change after it signals again; a failed signal, or a claim left by a pass that
died, never leaves the partner deaf. Real PostgreSQL, Temporal, emulator and worker; deliveries POSTed
to the real app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.service import RPCError, RPCStatusCode

from api import webhooks
from tests.api.conftest import oauth_round_trip
from tests.api.test_currency import Bookkeeper
from tests.api.test_webhooks import (
    cloudevent,
    connected_partner,
    post,
    route_result,
    routing_done,
    signalled,
    signals,
)
from tests.api.test_webhooks import verifier as verifier  # noqa: F401 (the fixture)
from tests.helpers import eventually


@pytest.fixture(autouse=True)
def claims_never_go_stale(monkeypatch) -> None:
    """A claim ages out after a minute; here it never does, so only the mechanism under test can end one."""
    monkeypatch.setattr(webhooks, "SIGNAL_OUTSTANDING_FOR", timedelta(hours=1))


@contextlib.asynccontextmanager
async def running_worker(api_settings, temporal_env, db_pool, task_queue) -> AsyncIterator[None]:
    """The real worker, for part of a test. No sticky cache: a restarted worker gets the workflow's next task
    at once instead of after the dead worker's sticky queue times out."""
    from qbo.client import QboApi
    from worker import build_worker

    qbo = QboApi(api_settings, db_pool)
    try:
        async with build_worker(temporal_env.client, db_pool, qbo, task_queue=task_queue, max_cached_workflows=0):
            yield
    finally:
        await qbo.aclose()


async def edit_and_deliver(app_client, verifier: str, bk: Bookkeeper, realm: str, qbo_id: str,  # noqa: F811
                           doc: str) -> str:
    """A bookkeeper's edit in QBO, then Intuit's delivery of its event; returns the event id."""
    current = await bk.read("Invoice", qbo_id)
    resp = await bk.http.post("/invoice", json={"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True,
                                                "DocNumber": doc})
    assert resp.status_code == 200, resp.text
    event = cloudevent(realm, qbo_id)
    assert (await post(app_client, verifier, [event])).json()["new"] == 1
    await routing_done(app_client)
    return event["id"]


async def docs_shown(app_client, pid: str, wanted: dict[str, str]) -> dict[str, str]:
    items = (await app_client.get(f"/partners/{pid}/invoices", params={"limit": 100})).json()["items"]
    shown = {i["qbo_id"]: i["doc_number"] for i in items if i["qbo_id"] in wanted}
    assert shown == wanted, shown
    return shown


def signal_counts(since: dict[str, float] | None = None) -> dict[str, float]:
    """`qbo_webhook_signals_total` by outcome in this process (the app runs in it), less `since`."""
    from prometheus_client import REGISTRY

    now = {o: REGISTRY.get_sample_value("qbo_webhook_signals_total", {"outcome": o}) or 0.0
           for o in ("sent", "coalesced", "failed")}
    return {o: v - (since or {}).get(o, 0.0) for o, v in now.items()}


async def cycles(db_pool, pid: str, trigger: str = "sync_now") -> int:
    return await db_pool.fetchval("SELECT count(*) FROM sync_runs WHERE partner_id = $1 AND trigger = $2",
                                  pid, trigger)



async def connected_and_synced(app_client, pid: str, realm: str) -> None:  # noqa: ANN001
    """The partner connects through OAuth, onboards and finishes its first cycle."""
    assert (await oauth_round_trip(app_client, pid, realm)).status_code == 200

    async def active() -> bool:
        body = (await app_client.get(f"/partners/{pid}/qbo")).json()
        assert body["state"] == "active" and body["last_synced_at"], body
        return True

    await eventually(active, timeout=120, what="the partner onboarded and synced")

async def test_events_while_a_signal_is_outstanding_make_one_signal_and_one_cycle(
        app_client, verifier, new_partner, emu, emulator_url, db_pool, temporal_env, api_settings,  # noqa: F811
        task_queue) -> None:
    realm = await emu.create_company(customers=2, invoices=5)
    pid = await new_partner()
    async with running_worker(api_settings, temporal_env, db_pool, task_queue):
        await connected_and_synced(app_client, pid, realm)
    # The worker is stopped: a signal reaches the history but no cycle runs, so the first event's signal
    # stays outstanding while the bookkeeper edits every invoice, one delivery each.
    bk = Bookkeeper(emulator_url, realm, await emu.tokens(realm))
    try:
        qbo_ids = sorted(i["Id"] for i in await bk.find("select * from Invoice"))
        assert len(qbo_ids) == 5
        before, counted = await signals(temporal_env, pid), signal_counts()
        events = [await edit_and_deliver(app_client, verifier, bk, realm, q, f"C{n}") for n, q in enumerate(qbo_ids)]
        assert [await route_result(db_pool, e) for e in events] == ["signalled"] * 5
        await signalled(temporal_env, pid, before + 1)  # one signal for five events
        assert signal_counts(counted) == {"sent": 1, "coalesced": 4, "failed": 0}
        async with running_worker(api_settings, temporal_env, db_pool, task_queue):
            wanted = {q: f"C{n}" for n, q in enumerate(qbo_ids)}
            await eventually(lambda: docs_shown(app_client, pid, wanted), timeout=60, what="all five edits")
            assert await cycles(db_pool, pid) == 1, "one cycle for five events"
            # That cycle cleared the request: the next change signals again, and is seen.
            late = await edit_and_deliver(app_client, verifier, bk, realm, qbo_ids[0], "AFTER")
            assert await route_result(db_pool, late) == "signalled"
            await signalled(temporal_env, pid, before + 2)
            wanted[qbo_ids[0]] = "AFTER"
            await eventually(lambda: docs_shown(app_client, pid, wanted), timeout=60, what="the edit after the clear")
            assert await cycles(db_pool, pid) == 2
    finally:
        await bk.http.aclose()


async def test_events_during_a_cycle_make_one_extra_cycle(
        app_client, verifier, new_partner, emu, emulator_url, db_pool, temporal_env, api_settings,  # noqa: F811
        task_queue, monkeypatch) -> None:
    """Events that arrive while a cycle is reading (after its fetch_changes cleared the request) may announce
    changes that read misses: the first signals again, the others ride on that signal; one more cycle."""
    from activities.sync import SyncActivities

    realm = await emu.create_company(customers=2, invoices=5)
    pid = await new_partner()
    reading, release, hold = asyncio.Event(), asyncio.Event(), [False]
    real_fetch = SyncActivities._fetch

    async def held_fetch(self, *args, **kwargs):  # the real read, paused once where the test says
        if hold[0]:
            hold[0] = False
            reading.set()
            await release.wait()
        return await real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(SyncActivities, "_fetch", held_fetch)
    bk = Bookkeeper(emulator_url, realm, await emu.tokens(realm))
    try:
        async with running_worker(api_settings, temporal_env, db_pool, task_queue):
            await connected_and_synced(app_client, pid, realm)
            qbo_ids = sorted(i["Id"] for i in await bk.find("select * from Invoice"))
            before, counted = await signals(temporal_env, pid), signal_counts()
            hold[0] = True
            try:
                await edit_and_deliver(app_client, verifier, bk, realm, qbo_ids[0], "D0")
                await eventually(lambda: asyncio.sleep(0, reading.is_set()), what="the cycle to start reading")
                assert not await db_pool.fetchval("SELECT count(*) FROM sync_requests WHERE partner_id = $1", pid)
                for n, q in enumerate(qbo_ids[1:], 1):
                    await edit_and_deliver(app_client, verifier, bk, realm, q, f"D{n}")
                await signalled(temporal_env, pid, before + 2)  # one for the cycle, one for the events in it
                assert signal_counts(counted) == {"sent": 2, "coalesced": 3, "failed": 0}
            finally:
                release.set()
            wanted = {q: f"D{n}" for n, q in enumerate(qbo_ids)}
            await eventually(lambda: docs_shown(app_client, pid, wanted), timeout=60, what="all five edits")

            async def two_cycles_done() -> bool:
                runs = await db_pool.fetch("SELECT finished_at FROM sync_runs WHERE partner_id = $1 "
                                           "AND trigger = 'sync_now'", pid)
                assert len(runs) == 2 and all(r["finished_at"] for r in runs), runs
                return True

            await eventually(two_cycles_done, timeout=60, what="the cycle and the one extra cycle")
            await signalled(temporal_env, pid, before + 2)
    finally:
        await bk.http.aclose()


async def test_a_failed_signal_does_not_leave_the_partner_deaf(app_client, verifier, db_pool, temporal_env,  # noqa: F811
                                                               task_queue, monkeypatch) -> None:
    """Temporal refuses the signal: the event stays unrouted and the claim is released, so the next delivery
    signals (and routes both events) instead of trusting a signal that never arrived."""
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    real_sync_now = webhooks.partner_workflows.sync_now

    async def refuse(client, partner_id: str) -> None:
        raise RPCError("service unavailable", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", refuse)
    first = cloudevent(realm, "1")
    assert (await post(app_client, verifier, [first])).json()["new"] == 1
    await routing_done(app_client)
    assert await route_result(db_pool, first["id"]) is None and await signals(temporal_env, pid) == 0
    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", real_sync_now)
    second = cloudevent(realm, "2")
    assert (await post(app_client, verifier, [second])).json()["new"] == 1
    await routing_done(app_client)
    assert [await route_result(db_pool, e["id"]) for e in (first, second)] == ["signalled", "signalled"]
    assert await signals(temporal_env, pid) == 1


async def test_a_claim_left_by_a_dead_pass_is_taken_over_once_stale(app_client, verifier, db_pool, temporal_env,  # noqa: F811
                                                                    task_queue, monkeypatch) -> None:
    """A pass that died between claiming and signalling leaves a claim no outcome will ever end. While it is
    fresh it may still be another process's signal in flight: the event waits, unrouted. Once stale it is
    taken over and the partner signalled."""
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    await db_pool.execute("INSERT INTO sync_requests (partner_id, requested_at) VALUES ($1, now() - interval '2 min')",
                          pid)
    event = cloudevent(realm)
    assert (await post(app_client, verifier, [event])).json()["new"] == 1
    await routing_done(app_client)
    assert await route_result(db_pool, event["id"]) is None, "a claim of the last hour is still outstanding"
    monkeypatch.setattr(webhooks, "SIGNAL_OUTSTANDING_FOR", timedelta(minutes=1))
    await webhooks.route_pending(app_client._transport.app)
    assert await route_result(db_pool, event["id"]) == "signalled" and await signals(temporal_env, pid) == 1


async def test_passes_side_by_side_share_one_signal(app_client, verifier, db_pool, temporal_env,  # noqa: F811
                                                    task_queue, monkeypatch) -> None:
    """A second delivery for a partner whose signal the first delivery's pass is still sending is not
    signalled again: its events take that signal's outcome, as soon as it is known."""
    pid, realm = await connected_partner(db_pool, temporal_env, task_queue)
    real_sync_now, real_claim = webhooks.partner_workflows.sync_now, webhooks.sync_requests.claim
    released, calls, claims = asyncio.Event(), [], []

    async def slow(client, partner_id: str) -> None:
        calls.append(partner_id)
        await released.wait()
        await real_sync_now(client, partner_id)

    async def claim(*args, **kwargs):
        claims.append(result := await real_claim(*args, **kwargs))
        return result

    monkeypatch.setattr(webhooks.partner_workflows, "sync_now", slow)
    monkeypatch.setattr(webhooks.sync_requests, "claim", claim)
    monkeypatch.setattr(webhooks, "ROUTE_TIMEOUT", 60.0)
    first, second = cloudevent(realm, "1"), cloudevent(realm, "2")
    try:
        assert (await post(app_client, verifier, [first])).status_code == 200
        await eventually(lambda: asyncio.sleep(0, calls == [pid]), what="the first pass to reach Temporal")
        assert (await post(app_client, verifier, [second])).status_code == 200
        # The second pass found the partner claimed (by the first, still sending) before the release.
        await eventually(lambda: asyncio.sleep(0, len(claims) == 2), what="the second pass's claim")
        assert list(claims[0][0]) == [pid] and claims[1] == ({}, set())
        assert await route_result(db_pool, second["id"]) is None
    finally:
        released.set()
    await routing_done(app_client)
    assert [await route_result(db_pool, e["id"]) for e in (first, second)] == ["signalled", "signalled"]
    assert calls == [pid] and await signals(temporal_env, pid) == 1
