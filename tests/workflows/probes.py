"""Probes for `tests.helpers.eventually` on a running partner workflow, shared by the workflow tests and the
history scenarios. Each asserts, so a wait that times out says what the workflow showed instead."""

from __future__ import annotations

from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from bench.common import activity_type
from tests.workflows.stubs import StubActivities
from workflows.models import IntegrationState, PartnerStatus
from workflows.partner import PartnerIntegrationWorkflow


async def status(handle: WorkflowHandle) -> PartnerStatus:
    return await handle.query(PartnerIntegrationWorkflow.status)


def _seen(current: PartnerStatus) -> str:
    return f"{current.state}, step {current.step!r}, last_error {current.last_error!r}"


async def state_is(handle: WorkflowHandle, state: IntegrationState) -> PartnerStatus:
    current = await status(handle)
    assert current.state is state, _seen(current)
    return current


async def synced(handle: WorkflowHandle) -> PartnerStatus:
    """A cycle has finished (onboarding's first one, at least)."""
    current = await status(handle)
    assert current.last_sync_at is not None, f"no cycle finished yet: {_seen(current)}"
    return current


async def synced_after(handle: WorkflowHandle, instant: datetime | None) -> PartnerStatus:
    """A cycle finished after `instant` (the last_sync_at seen before)."""
    current = await status(handle)
    assert current.last_sync_at is not None and (instant is None or current.last_sync_at > instant), (
        f"no cycle finished after {instant}: {_seen(current)}")
    return current


async def last_error_mentions(handle: WorkflowHandle, text: str) -> PartnerStatus:
    current = await status(handle)
    assert text in (current.last_error or ""), f"last_error is {current.last_error!r}"
    return current


async def new_run(handle: WorkflowHandle, first_run: str) -> str:
    run_id = (await handle.describe()).run_id
    assert run_id is not None and run_id != first_run, f"still the first run {first_run}"
    return run_id


async def called(stubs: StubActivities, activity: str, *, more_than: int | None = None,
                 exactly: int | None = None) -> bool:
    """The stub activity ran more than `more_than` times, or exactly `exactly` times."""
    calls = stubs.calls[activity]
    if more_than is not None:
        assert calls > more_than, f"{activity} ran {calls} times, waiting for more than {more_than}"
    if exactly is not None:
        assert calls == exactly, f"{activity} ran {calls} times, waiting for {exactly}"
    return True


async def commands_after_failed_revoke(handle: WorkflowHandle) -> list[str]:
    """What the workflow did after its last failed `revoke_connection`, from history: "marker <patch>",
    "timer <seconds>s" or the activity (regular or local), in order. Asserts it did something (a patch marker at
    least), so `eventually` waits until the failure was acted on."""
    events = (await handle.fetch_history()).events
    names = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
             for e in events if e.HasField("activity_task_scheduled_event_attributes")}
    failed = [i for i, e in enumerate(events) if e.HasField("activity_task_failed_event_attributes")
              and names[e.activity_task_failed_event_attributes.scheduled_event_id] == "revoke_connection"]
    assert failed, "no revoke_connection has failed yet"
    done: list[str] = []
    for e in events[failed[-1] + 1:]:
        if (name := activity_type(e)) is not None:  # a regular activity, or a local one's marker
            done.append(name)
        elif e.HasField("marker_recorded_event_attributes"):
            done.append(f"marker {_marker_id(e)}")
        elif e.HasField("timer_started_event_attributes"):
            done.append(f"timer {e.timer_started_event_attributes.start_to_fire_timeout.seconds}s")
    assert done, "the failed revoke not acted on yet"
    return done


def _marker_id(event) -> str:
    """A marker's details as text (a patch marker's hold its id)."""
    details = event.marker_recorded_event_attributes.details
    return " ".join(p.data.decode(errors="replace") for key in sorted(details) for p in details[key].payloads)


async def waiting(handle: WorkflowHandle) -> bool:
    """The workflow is parked on a condition: its last workflow task issued no command and no activity is
    pending (its state may show before the step that set it has finished: `_set_state` awaits an activity)."""
    events = (await handle.fetch_history()).events
    last = events[-1].event_type if events else None
    assert last == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, f"last event {EventType.Name(last or 0)}"
    pending = (await handle.describe()).raw_description.pending_activities
    assert not pending, f"{len(pending)} activities pending"
    return True
