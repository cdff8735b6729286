"""Offline replay of recorded histories: any change to the workflow that changes its commands fails here
unless it is behind `workflow.patched`. Needs no server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

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


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_histories_hold_no_secret_and_no_qbo_page(path: Path):
    text = path.read_text()
    for needle in ("access_token", "refresh_token", "Bearer ", "client_secret", '"Invoice": [', "QueryResponse"):
        assert needle not in text


@pytest.mark.parametrize("history_name, variant", [
    ("preferences_change", "WithoutAccountReload"),
    ("preferences_during_onboarding", "WithoutDefaultsLock"),
    ("reconciliation", "WithoutReconciliation"),
])
async def test_an_unpatched_command_change_is_caught(history_name: str, variant: str):
    from temporalio.workflow import NondeterminismError

    from tests.workflows import variants

    path = next(p for p in HISTORIES if p.stem == history_name)
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (tiny local file)
    replayer = Replayer(workflows=[getattr(variants, variant)], data_converter=pydantic_data_converter)
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)
