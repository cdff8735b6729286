"""Regenerate `tests/histories/*.json` by running scenarios on a fresh local Temporal server:
`python -m tests.workflows.record_histories [SCENARIO ...]`."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from devstack.binaries import temporal_cli_path
from devstack.temporal import SEARCH_ATTRIBUTES
from tests.workflows.scenarios import SCENARIOS
from tests.workflows.stubs import StubActivities
from workflows.partner import PartnerIntegrationWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def record(names: list[str]) -> None:
    """Record the named scenarios (all when none is named). Record only what a change needs: the histories
    recorded before a `workflow.patched` change are what prove it."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli_path()), data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=200"])
    try:
        for name, scenario in SCENARIOS.items():
            if names and name not in names:
                continue
            stubs, task_queue = StubActivities(), f"record-{uuid.uuid4()}"
            async with Worker(env.client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                              activities=stubs.all()):
                handle = await scenario(env.client, task_queue, stubs, name)
                if name != "continue_as_new":
                    await handle.result()
                history = await handle.fetch_history()
            path = HISTORIES / f"{name}.json"
            path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
            print(f"wrote {path} ({len(history.events)} events)")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
