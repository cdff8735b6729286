"""Probes for `tests.helpers.eventually` on a running partner workflow, shared by the workflow tests and the
history scenarios. Each asserts, so a wait that times out says what the workflow showed instead."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import WorkflowHandle

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
