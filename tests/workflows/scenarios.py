"""Scenario runs of PartnerIntegrationWorkflow whose histories are kept in `tests/histories/` for the
offline replay test. Regenerate deliberately (after a change that is meant to change commands, behind
`workflow.patched`) with:

    .venv/bin/python -m tests.workflows.record_histories
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateStage

from rules.preferences import Preferences
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from tests.workflows.stubs import StubActivities
from workflows.models import DisconnectRequest, IntegrationState
from workflows.partner import PartnerIntegrationWorkflow

Scenario = Callable[[Client, str, StubActivities, str], Awaitable[WorkflowHandle]]


async def _start(client: Client, task_queue: str, interval: int = 3600) -> tuple[str, WorkflowHandle]:
    pid = f"replay-{uuid.uuid4().hex[:8]}"
    await partners.start_or_reconnect(client, pid, "9130", sync_interval_seconds=interval, task_queue=task_queue)
    handle = partners.handle_for(client, pid)
    await eventually(lambda: probes.synced(handle), what="onboarding and first cycle")
    return pid, handle


async def onboarding_and_cycles(client, task_queue, stubs, _):
    pid, handle = await _start(client, task_queue)
    for _ in range(3):
        before = stubs.calls["fetch_changes"]
        await partners.sync_now(client, pid)
        await eventually(lambda b=before: probes.called(stubs, "fetch_changes", more_than=b), what="a cycle")
    await partners.disconnect(client, pid)
    return handle


async def preferences_change(client, task_queue, stubs, _):
    stubs.create_fee_account = True
    pid, handle = await _start(client, task_queue)
    await partners.update_preferences(client, pid, Preferences(
        payment_account_id="4", create_deposits=True, deposit_account_id="35", fee_account_id="120"))
    await handle.signal(PartnerIntegrationWorkflow.set_preferences, Preferences(payment_account_id="nope"))
    await partners.disconnect(client, pid)
    return handle


CHOSEN = Preferences(payment_account_id="36", fee_account_id="90")


async def update_during_defaults(handle: WorkflowHandle, stubs: StubActivities, chosen: Preferences) -> Preferences:
    """Send `update_preferences` while onboarding is inside apply_default_preferences (held by the stub's
    gate), and let the defaults finish only after the update's own save finished or is waiting its turn:
    the order in which an unserialised workflow loses the partner's choice."""
    await eventually(lambda: probes.called(stubs, "apply_default_preferences", more_than=0), what="onboarding at the defaults")
    update = await handle.start_update(PartnerIntegrationWorkflow.update_preferences, chosen,
                                       wait_for_stage=WorkflowUpdateStage.ACCEPTED)
    # The task that accepted the update also scheduled whatever its handler could start right away.
    scheduled = [e.activity_task_scheduled_event_attributes.activity_type.name
                 for e in (await handle.fetch_history()).events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    if "save_preferences" in scheduled:
        await eventually(lambda: probes.called(stubs, "save_preferences", more_than=0), what="the partner's preferences saved")
    assert stubs.defaults_gate is not None
    stubs.defaults_gate.set()
    return await update.result()


async def preferences_during_onboarding(client, task_queue, stubs, _):
    stubs.defaults_gate = asyncio.Event()
    pid = f"replay-{uuid.uuid4().hex[:8]}"
    await partners.start_or_reconnect(client, pid, "9130", sync_interval_seconds=3600, task_queue=task_queue)
    handle = partners.handle_for(client, pid)
    await update_during_defaults(handle, stubs, CHOSEN)
    await eventually(lambda: probes.synced(handle), what="onboarding and first cycle")
    await partners.disconnect(client, pid)
    return handle


async def reconciliation(client, task_queue, stubs, _):
    pid, handle = await _start(client, task_queue)
    await partners.request_reconciliation(client, pid)
    await eventually(lambda: probes.called(stubs, "run_reconciliation", more_than=0), what="the reconciliation run")
    await partners.disconnect(client, pid)
    return handle


async def reconnect(client, task_queue, stubs, _):
    pid, handle = await _start(client, task_queue)
    stubs.auth_broken, stubs.pending_payments = True, 2
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.state_is(handle, IntegrationState.NEEDS_RECONNECT), what="needs_reconnect")
    stubs.auth_broken = False
    await handle.signal(PartnerIntegrationWorkflow.reconnected)
    await eventually(lambda: probes.called(stubs, "post_payments", more_than=0), what="postings replayed")
    await partners.disconnect(client, pid)
    return handle


async def reconnect_while_active(client, task_queue, stubs, _):
    pid, handle = await _start(client, task_queue)
    before = stubs.calls["fetch_changes"]
    await handle.signal(PartnerIntegrationWorkflow.reconnected)
    await eventually(lambda: probes.called(stubs, "fetch_changes", more_than=before), what="the reconnected cycle")
    await partners.disconnect(client, pid)
    return handle


async def payouts_when_deposits_off(client, task_queue, stubs, _):
    """Deposits are off (the defaults): a payout the fetch reports pending is still handed to create_deposits,
    which settles it `not_synced` (the `settle-payouts-when-deposits-off` patch)."""
    pid, handle = await _start(client, task_queue)
    stubs.pending_payouts = 1
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.called(stubs, "create_deposits", more_than=0), what="the payout settled")
    await partners.disconnect(client, pid)
    return handle


async def _whole_cycle(client, handle: WorkflowHandle, pid: str) -> None:
    """sync_now, then wait until that cycle finished (recorded), not only started."""
    before = (await probes.status(handle)).last_sync_at
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.synced_after(handle, before), what="a whole cycle")


async def cycle_applies_in_fetch(client, task_queue, stubs, _):
    """The cycle shapes of the `cycle-applies-in-fetch` patch: a few changes applied and recorded by fetch
    (one activity), a few with payments to post (fetch applies, the run is recorded after the posting), and
    too many for fetch (apply_staged, then the record, as before)."""
    pid, handle = await _start(client, task_queue)
    stubs.staged_per_fetch = 3
    await _whole_cycle(client, handle, pid)
    stubs.pending_payments = 2
    await _whole_cycle(client, handle, pid)
    stubs.staged_per_fetch = stubs.apply_limit + 1
    await _whole_cycle(client, handle, pid)
    await partners.disconnect(client, pid)
    return handle


async def cycle_fetch_local(client, task_queue, stubs, _):
    """The `cycle-fetch-local` patch: onboarding's first cycle sweeps (a regular activity); then an idle
    cycle and one with changes and payments, whose CDC fetch is a local activity."""
    pid, handle = await _start(client, task_queue)
    await _whole_cycle(client, handle, pid)
    stubs.staged_per_fetch, stubs.pending_payments = 3, 2
    await _whole_cycle(client, handle, pid)
    await partners.disconnect(client, pid)
    return handle


async def post_after_large_apply(client, task_queue, stubs, _):
    """The `post-after-large-apply` patch: too many changes for fetch to apply, no payment pending when
    fetch counted: apply_staged, then post_payments all the same (what was applied may have cleared a parked
    payment's cause), then the record."""
    pid, handle = await _start(client, task_queue)
    stubs.staged_per_fetch = stubs.apply_limit + 1
    await _whole_cycle(client, handle, pid)
    await partners.disconnect(client, pid)
    return handle


async def last_sync_at_grain(client, task_queue, stubs, _):
    """The `last-sync-at-grain` patch: onboarding's cycle writes LastSyncAt, the next two (seconds later)
    do not."""
    pid, handle = await _start(client, task_queue)
    await _whole_cycle(client, handle, pid)
    await _whole_cycle(client, handle, pid)
    await partners.disconnect(client, pid)
    return handle


async def failed_disconnect(client, task_queue, stubs, _):
    """The `failed-disconnect-keeps-waiting` patch, both waits: a disconnect whose revoke fails ends a sleep
    (the loop sleeps on to the same deadline), then one ends the wait in needs_reconnect (it waits on)."""
    pid, handle = await _start(client, task_queue)
    stubs.revoke_broken = True
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="asleep"))
    await eventually(lambda: probes.commands_after_failed_revoke(handle), what="asleep again")
    stubs.auth_broken = True
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.state_is(handle, IntegrationState.NEEDS_RECONNECT), what="needs_reconnect")
    await eventually(lambda: probes.waiting(handle), what="waiting for the reconnect")
    failures = stubs.calls["revoke_connection"]
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="needs reconnect"))
    await eventually(lambda: probes.called(stubs, "revoke_connection", more_than=failures), what="the second revoke")
    await eventually(lambda: probes.last_error_mentions(handle, "disconnect: RevokeFailed"), what="its failure")
    stubs.revoke_broken = stubs.auth_broken = False
    await partners.disconnect(client, pid)
    return handle


async def continue_as_new(client, task_queue, stubs, _):
    """Needs a server that suggests continue-as-new early (the test fixture sets 200 events)."""
    pid, handle = await _start(client, task_queue, interval=1)
    first_run = (await handle.describe()).run_id
    await eventually(lambda: probes.new_run(handle, first_run), timeout=120, what="continue-as-new")
    return client.get_workflow_handle(handle.id, run_id=first_run)


SCENARIOS: dict[str, Scenario] = {
    "onboarding_and_cycles": onboarding_and_cycles,
    "preferences_change": preferences_change,
    "reconnect": reconnect,
    "reconnect_while_active": reconnect_while_active,
    "continue_as_new": continue_as_new,
    "preferences_during_onboarding": preferences_during_onboarding,
    "reconciliation": reconciliation,
    "payouts_when_deposits_off": payouts_when_deposits_off,
    "cycle_applies_in_fetch": cycle_applies_in_fetch,
    "cycle_fetch_local": cycle_fetch_local,
    "last_sync_at_grain": last_sync_at_grain,
    "failed_disconnect": failed_disconnect,
    "post_after_large_apply": post_after_large_apply,
}
