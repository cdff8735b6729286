"""PartnerIntegrationWorkflow on the real Temporal dev server, with test-double activities.

What is checked is the workflow's own logic: onboarding order, the sync loop and its wake-ups, each
message, needs_reconnect without busy retries, and continue-as-new with state carried over."""

from __future__ import annotations

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Worker

from bench.common import activity_type
from rules.preferences import Preferences
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from tests.workflows.stubs import StubActivities
from workflows.models import IntegrationState
from workflows.partner import PartnerIntegrationWorkflow


@pytest.fixture
def stubs() -> StubActivities:
    return StubActivities()


@pytest.fixture
async def running(temporal_env, task_queue, stubs):
    """A worker with the stubs, and a started partner workflow with a long interval (no timer noise)."""
    client = temporal_env.client
    pid = f"p{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow], activities=stubs.all()):
        await partners.start_or_reconnect(client, pid, "9130", sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)
        await eventually(lambda: probes.state_is(handle, IntegrationState.ACTIVE), what="onboarding to finish")
        await eventually(lambda: probes.synced(handle), what="first cycle")
        yield client, pid, handle


# The names other test modules imported from here before tests/workflows/probes.py; new tests use probes.
_status, _state_is, _synced = probes.status, probes.state_is, probes.synced
_last_error_mentions, _called = probes.last_error_mentions, probes.called


async def test_onboarding_backfills_then_runs_the_first_cycle(running, stubs):
    client, pid, handle = running
    status = await probes.status(handle)
    assert status.company_name == "Stub Co"
    assert status.backfill.done == status.backfill.total == 4000
    assert status.preferences == Preferences(payment_account_id="4", fee_account_id="90")
    assert stubs.calls["backfill_chunk"] == 4 and stubs.calls["apply_staged"] == 4
    assert stubs.calls["fetch_changes"] == 1
    assert stubs.states == ["active"]


async def test_sync_now_wakes_the_loop_at_once(running, stubs):
    client, pid, handle = running
    before = stubs.calls["fetch_changes"]
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.called(stubs, "fetch_changes", more_than=before), what="a cycle after sync_now")


async def test_rejected_preferences_update_leaves_no_trace_in_history(running, stubs):
    client, pid, handle = running
    bad = Preferences(payment_account_id="4", create_deposits=True, deposit_account_id=None, fee_account_id="90")
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await partners.update_preferences(client, pid, bad)
    assert "deposit" in str(raised.value.cause).lower()
    inactive = Preferences(payment_account_id="4", create_deposits=True, deposit_account_id="91", fee_account_id="90")
    with pytest.raises(WorkflowUpdateFailedError):
        await partners.update_preferences(client, pid, inactive)
    history = await handle.fetch_history()
    kinds = {e.event_type for e in history.events}
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in kinds
    assert stubs.saved_preferences == []
    assert (await probes.status(handle)).preferences == Preferences(payment_account_id="4", fee_account_id="90")


async def test_accepted_preferences_update_returns_what_was_applied(running, stubs):
    client, pid, handle = running
    good = Preferences(payment_account_id="4", create_deposits=True, deposit_account_id="35", fee_account_id="90")
    applied = await partners.update_preferences(client, pid, good)
    assert applied == good
    assert (await probes.status(handle)).preferences == good


async def test_preferences_signal_shares_the_checks_and_records_a_rejection(running, stubs):
    client, pid, handle = running
    bad = Preferences(payment_account_id="nope", fee_account_id="90")
    await handle.signal(PartnerIntegrationWorkflow.set_preferences, bad)
    status = await eventually(lambda: probes.last_error_mentions(handle, "preferences rejected"), what="rejection")
    assert status.preferences.payment_account_id == "4"
    assert stubs.saved_preferences == []


async def test_disconnect_revokes_and_completes(running, stubs):
    client, pid, handle = running
    result = await partners.disconnect(client, pid)
    assert result.state is IntegrationState.DISCONNECTED
    final = await handle.result()
    assert final.state is IntegrationState.DISCONNECTED
    assert stubs.revoked == [pid]


async def test_auth_failure_waits_without_retrying_then_reconnect_resumes(running, stubs):
    client, pid, handle = running
    stubs.auth_broken = True
    stubs.pending_payments = 3
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.state_is(handle, IntegrationState.NEEDS_RECONNECT), what="needs_reconnect")
    attempts = stubs.calls["fetch_changes"]
    seen = len((await handle.fetch_history()).events)
    await partners.sync_now(client, pid)  # ignored while waiting: no busy loop against QBO
    await partners.sync_now(client, pid)

    async def both_signals_handled():
        """The events since, once a workflow task has completed after both signals (the worker has
        certainly seen them; looking earlier could pass before a wrong reaction was recorded)."""
        events = (await handle.fetch_history()).events[seen:]
        signals = [i for i, e in enumerate(events) if e.event_type is EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
        done = [i for i, e in enumerate(events) if e.event_type is EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
        assert len(signals) == 2 and done and done[-1] > signals[-1]
        return events

    after = await eventually(both_signals_handled, what="the worker to handle both sync_now signals")
    started = [activity_type(e) for e in after if activity_type(e)]  # regular or local activities
    assert not started, started
    assert stubs.calls["fetch_changes"] == attempts
    stubs.auth_broken = False
    await handle.signal(PartnerIntegrationWorkflow.reconnected)
    await eventually(lambda: probes.called(stubs, "post_payments", exactly=1), what="pending postings replayed")
    status = await probes.status(handle)
    assert status.state is IntegrationState.ACTIVE and status.pending_postings == 0
    assert stubs.states[-2:] == ["needs_reconnect", "active"]


async def _async(value):
    return value


async def test_a_fee_account_created_at_onboarding_is_known_to_the_validator(temporal_env, task_queue):
    stubs = StubActivities(create_fee_account=True)
    client, pid = temporal_env.client, f"p{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow], activities=stubs.all()):
        await partners.start_or_reconnect(client, pid, "9130", sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)
        await eventually(lambda: probes.synced(handle), what="first cycle")
        defaults = (await probes.status(handle)).preferences
        assert defaults.fee_account_id == "120"
        assert await partners.update_preferences(client, pid, defaults) == defaults
        await partners.disconnect(client, pid)


async def test_reconnect_while_active_runs_one_cycle_then_sleeps(running, stubs):
    """A second OAuth connect signals `reconnected` to a healthy workflow: one cycle, then the interval
    timer again (a flag left set would spin the loop with no timer at all)."""
    client, pid, handle = running
    before = stubs.calls["fetch_changes"]
    await handle.signal(PartnerIntegrationWorkflow.reconnected)

    async def asleep_after_one_more_cycle():
        events = (await handle.fetch_history()).events
        completed = [i for i, e in enumerate(events) if e.event_type is EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
        timers = [i for i, e in enumerate(events) if e.event_type is EventType.EVENT_TYPE_TIMER_STARTED]
        assert stubs.calls["fetch_changes"] == before + 1 and timers and completed and timers[-1] > completed[-1]
        return True

    await eventually(asleep_after_one_more_cycle, what="one cycle after reconnected, then the interval timer")
    assert stubs.calls["fetch_changes"] == before + 1


async def test_a_disconnect_that_cannot_revoke_leaves_the_partner_connected(running, stubs):
    client, pid, handle = running
    stubs.revoke_broken = True
    with pytest.raises(WorkflowUpdateFailedError):
        await partners.disconnect(client, pid)
    assert (await probes.status(handle)).state is IntegrationState.ACTIVE
    before = stubs.calls["fetch_changes"]
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.called(stubs, "fetch_changes", more_than=before), what="syncing still works")
    stubs.revoke_broken = False
    assert (await partners.disconnect(client, pid)).state is IntegrationState.DISCONNECTED
    assert (await handle.result()).state is IntegrationState.DISCONNECTED


async def test_preferences_sent_during_onboarding_are_not_overwritten_by_the_defaults(temporal_env, task_queue):
    """The lost update: the partner's preferences, accepted while onboarding applies the defaults, stay."""
    import asyncio

    from tests.workflows.scenarios import CHOSEN, update_during_defaults

    client, stubs = temporal_env.client, StubActivities()
    stubs.defaults_gate = asyncio.Event()
    pid = f"p{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow], activities=stubs.all()):
        await partners.start_or_reconnect(client, pid, "9130", sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)
        assert await update_during_defaults(handle, stubs, CHOSEN) == CHOSEN
        await eventually(lambda: probes.synced(handle), what="onboarding and first cycle")
        status = await handle.query(PartnerIntegrationWorkflow.status)
        assert status.preferences == CHOSEN, status.preferences
        assert stubs.saved_preferences == [CHOSEN]
        await partners.disconnect(client, pid)


async def test_a_fetch_that_did_not_apply_is_followed_by_apply_staged(running, stubs):
    """More staged than fetch applies (or an activity worker older than the patch, which never applies):
    apply_staged, then post_payments (what was applied may have cleared a parked payment's cause, the
    `post-after-large-apply` patch), then the run recorded with its counts; a few are applied by fetch
    alone, and status adds the same counts either way."""
    client, pid, handle = running
    for staged, applied_by_fetch in ((3, True), (stubs.apply_limit + 1, False)):
        stubs.staged_per_fetch = staged
        calls, before = dict(stubs.calls), await probes.status(handle)
        await partners.sync_now(client, pid)
        after = await eventually(lambda b=before: probes.synced_after(handle, b.last_sync_at), what="the cycle")
        assert stubs.calls["apply_staged"] - calls.get("apply_staged", 0) == (0 if applied_by_fetch else 1)
        assert stubs.calls["finish_sync_run"] - calls.get("finish_sync_run", 0) == (0 if applied_by_fetch else 1)
        # no payment pending when fetch counted: only after a large apply are payments looked for anyway
        assert stubs.calls["post_payments"] - calls.get("post_payments", 0) == (0 if applied_by_fetch else 1)
        expected = {"staged": staged, "updated": staged} if applied_by_fetch else {"staged": staged, "created": 1000}
        assert {k: after.counts[k] - before.counts.get(k, 0) for k in expected} == expected
    assert stubs.finished_runs[-1] == {"staged": stubs.apply_limit + 1, "created": 1000, "payments_posted": 0,
                                       "payments_needing_attention": 0}
