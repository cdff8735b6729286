"""Offline replay of recorded histories: any change to the workflow that changes its commands fails here
unless it is behind `workflow.patched`. Needs no server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.helpers import history_text
from workflows.partner import PartnerIntegrationWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_histories_are_recorded():
    """Current scenarios, and the `v1-` histories recorded before the first `workflow.patched` change."""
    scenarios = {"onboarding_and_cycles", "preferences_change", "reconnect", "continue_as_new"}
    assert {p.stem for p in HISTORIES} >= scenarios | {f"v1-{name}" for name in scenarios}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replays_without_nondeterminism(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (tiny local file)
    replayer = Replayer(workflows=[PartnerIntegrationWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


SECRETS_AND_PAGES = ("access_token", "refresh_token", "Bearer ", "client_secret", '"Invoice": [', "QueryResponse",
                     "CDCResponse", '"Line"')


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_histories_hold_no_secret_and_no_qbo_page(path: Path):
    """Searched with every payload decoded: the bare JSON keeps payloads base64-encoded, so a token in an
    activity's result would not show in it."""
    text = history_text(WorkflowHistory.from_json(path.stem, path.read_text()))
    # The decoding works: the workflow's input and the accounts `load_accounts` returned are readable.
    assert '"partner_id": "replay-' in text and '"name": "Undeposited Funds"' in text
    for needle in SECRETS_AND_PAGES:
        assert needle not in text


def test_a_secret_inside_a_payload_is_found():
    """The check above sees payload contents: a token planted in an activity result is found once decoded,
    and is invisible to a search of the bare JSON."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    path = next(p for p in HISTORIES if p.stem == "onboarding_and_cycles")
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    completed = next(e for e in history.events if e.HasField("activity_task_completed_event_attributes"))
    planted = pydantic_data_converter.payload_converter.to_payload({"refresh_token": "RT-planted"})
    completed.activity_task_completed_event_attributes.result.payloads[0].CopyFrom(planted)
    assert "RT-planted" not in history.to_json()
    assert "refresh_token" in history_text(history) and "RT-planted" in history_text(history)


@pytest.mark.parametrize("history_name, variant", [
    ("preferences_change", "WithoutAccountReload"),
    ("preferences_during_onboarding", "WithoutDefaultsLock"),
    ("reconciliation", "WithoutReconciliation"),
    ("payouts_when_deposits_off", "WithoutSettlingPayouts"),
    ("cycle_applies_in_fetch", "WithoutApplyInFetch"),
    ("cycle_fetch_local", "WithoutLocalFetch"),
    ("last_sync_at_grain", "WithoutLastSyncAtGrain"),
    ("failed_disconnect", "WithFailedDisconnectWakingTheSleep"),
    ("failed_disconnect", "WithFailedDisconnectResuming"),
    ("post_after_large_apply", "WithoutPostAfterLargeApply"),
])
async def test_an_unpatched_command_change_is_caught(history_name: str, variant: str):
    from temporalio.workflow import NondeterminismError

    from tests.workflows import variants

    path = next(p for p in HISTORIES if p.stem == history_name)
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (tiny local file)
    replayer = Replayer(workflows=[getattr(variants, variant)], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
