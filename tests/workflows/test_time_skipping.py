"""Long stretches of time on the time-skipping server: days of 5-minute cycles across several
continue-as-new runs, and a partner waiting in needs_reconnect for weeks without a single activity attempt."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.worker import Worker

from bench.common import activity_type
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from tests.workflows.stubs import StubActivities
from workflows.cycle import FULL_SWEEP_EVERY, LAST_SYNC_AT_GRAIN
from workflows.models import IntegrationState
from workflows.partner import MAX_CYCLES_PER_RUN, PartnerIntegrationWorkflow
from workflows.search_attributes import LAST_SYNC_AT

SUGGEST_CONTINUE_AS_NEW_AT = 4096
# Every cycle is real work for the worker (~25 ms of CPU on a quiet 2-core machine, more on a busy one): 30
# days (8,640 cycles) took 300-460 s and ran into the suite's 300 s per-test timeout; three days (864 cycles)
# ~22 s, the suite's second slowest test. Two days (576 cycles) cross the 250-cycle continue-as-new boundary
# twice, which is what the test is about: a run started by continue-as-new carries the state on again to
# a third run (backfill progress, the cycle count restarting), and every run stays short.
DAYS = 2


async def _run_lengths(client, workflow_id: str) -> list[int]:
    """History length of every run of the chain, newest first, following continued-from links."""
    lengths, run_id = [], None
    handle = client.get_workflow_handle(workflow_id)
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history() if run_id else \
            await handle.fetch_history()
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        if not run_id:
            return lengths


async def test_days_of_five_minute_cycles_continue_as_new(ts_env, task_queue):
    stubs = StubActivities()
    pid = f"ts{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                      activities=stubs.all()):
        await partners.start_or_reconnect(ts_env.client, pid, "1", sync_interval_seconds=300, task_queue=task_queue)
        for _ in range(DAYS):  # one long sleep call trips an HTTP/2 timeout; a day at a time is fine
            await ts_env.sleep(timedelta(days=1))
        handle = partners.handle_for(ts_env.client, pid)
        status = await handle.query(PartnerIntegrationWorkflow.status)
    cycles = DAYS * 24 * 12
    assert cycles - 5 <= stubs.calls["fetch_changes"] <= cycles + 5
    assert status.state is IntegrationState.ACTIVE and status.backfill.done == 4000  # carried across runs
    lengths = await _run_lengths(ts_env.client, partners.workflow_id(pid))
    assert len(lengths) > cycles // MAX_CYCLES_PER_RUN, f"continued as new too rarely: {lengths}"
    assert max(lengths) < SUGGEST_CONTINUE_AS_NEW_AT


async def test_last_sync_at_is_written_sparsely_and_never_stale(ts_env, task_queue):
    """Two hours of 5-minute cycles: the LastSyncAt search attribute (ops filter stalled partners on it) is
    written about every other cycle, and is never more than LAST_SYNC_AT_GRAIN behind the last sync."""
    from temporalio.converter import decode_typed_search_attributes

    stubs = StubActivities()
    pid = f"ts{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                      activities=stubs.all()):
        await partners.start_or_reconnect(ts_env.client, pid, "1", sync_interval_seconds=300, task_queue=task_queue)
        await ts_env.sleep(timedelta(hours=2))
        handle = partners.handle_for(ts_env.client, pid)
        status = await handle.query(PartnerIntegrationWorkflow.status)
        written = [
            value for e in (await handle.fetch_history()).events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
            and (value := decode_typed_search_attributes(
                e.upsert_workflow_search_attributes_event_attributes.search_attributes).get(LAST_SYNC_AT)) is not None]
    cycles = stubs.calls["fetch_changes"]
    assert status.last_sync_at is not None and cycles >= 20
    assert len(written) <= cycles // 2 + 1, f"{len(written)} writes for {cycles} cycles"
    assert status.last_sync_at - written[-1] < LAST_SYNC_AT_GRAIN, (status.last_sync_at, written[-1])


async def test_a_full_sweep_once_a_day(ts_env, task_queue):
    """Hourly cycles: the first is a full sweep, the next 23 read CDC only, and the one a day after the first
    sweeps again (PRODUCT.md §5, "a daily full reconciliation sweep")."""
    assert FULL_SWEEP_EVERY == timedelta(hours=24)
    stubs = StubActivities()
    pid = f"ts{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                      activities=stubs.all()):
        await partners.start_or_reconnect(ts_env.client, pid, "1", sync_interval_seconds=3600, task_queue=task_queue)
        await ts_env.sleep(timedelta(hours=25, minutes=30))
    assert len(stubs.full_sweeps) >= 26, stubs.full_sweeps
    assert stubs.full_sweeps[:26] == [True] + [False] * 23 + [True, False]


async def test_needs_reconnect_waits_weeks_without_activity_attempts(ts_env, task_queue):
    stubs = StubActivities()
    pid = f"ts{uuid.uuid4().hex[:8]}"
    async with Worker(ts_env.client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                      activities=stubs.all()):
        await partners.start_or_reconnect(ts_env.client, pid, "1", sync_interval_seconds=300, task_queue=task_queue)
        handle = partners.handle_for(ts_env.client, pid)
        await ts_env.sleep(timedelta(minutes=1))
        stubs.auth_broken = True
        await ts_env.sleep(timedelta(minutes=10))
        status = await handle.query(PartnerIntegrationWorkflow.status)
        assert status.state is IntegrationState.NEEDS_RECONNECT
        attempts = sum(stubs.calls.values())
        before = len((await handle.fetch_history()).events)
        for _ in range(21):
            await ts_env.sleep(timedelta(days=1))
        assert sum(stubs.calls.values()) == attempts
        history = await handle.fetch_history()
        assert len(history.events) == before
        assert not any(activity_type(e) for e in history.events[before:])  # regular or local activities
        stubs.auth_broken = False
        await handle.signal(PartnerIntegrationWorkflow.reconnected)
        await eventually(lambda: probes.state_is(handle, IntegrationState.ACTIVE), what="active again after reconnect")
