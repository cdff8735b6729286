"""Idle cycle: one onboarded partner, nothing changing in QBO or the platform, SYNC_INTERVAL_SECONDS=1.

After onboarding and two warm-up cycles (the first cycle after onboarding is the daily full sweep), the
emulator's call counter for the realm is reset and the benchmark waits for N more cycles. Then:

- `qbo_calls_per_cycle`: the emulator's count for the realm over the window / cycles in the window.
- `history_events_per_cycle`: events between the first and the (N+1)-th `fetch_changes` scheduled after the
  reset, over every run of the workflow id (continue-as-new included: a new run's events count too).
- `actions_per_cycle`: the same span's billable Temporal actions, counted from history as Temporal Cloud
  bills them: activity scheduled (+1 per retry attempt), timer started, signal received, search attributes
  upserted, workflow properties modified, update accepted, marker recorded (side effect/version),
  child workflow or external signal/cancel initiated, and a run started (continue-as-new). Queries and
  heartbeats leave no history event and are not counted (the benchmark sends no query in the window).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

from bench.common import activity_type, event_name, running_stack, wait_for, write_result

NAME = "idle_cycle"
SIZES = {"small": 20, "full": 100}
INTERVAL = 1
ACTION_EVENTS = {
    "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
    "EVENT_TYPE_TIMER_STARTED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
    "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    "EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "EVENT_TYPE_MARKER_RECORDED",
    "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
}


def is_fetch(event) -> bool:
    return activity_type(event) == "fetch_changes"


def actions(events) -> int:
    total = 0
    for e in events:
        name = event_name(e)
        if name in ACTION_EVENTS:
            total += 1
        elif name == "EVENT_TYPE_ACTIVITY_TASK_STARTED":
            total += max(0, e.activity_task_started_event_attributes.attempt - 1)  # retries are billed too
    return total


def fetch_times(events) -> list[datetime]:
    return [e.event_time.ToDatetime(tzinfo=UTC) for e in events if is_fetch(e)]


async def run(size: str) -> dict:
    cycles = SIZES[size]
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": str(INTERVAL)}) as bench:
        realm = await bench.company(customers=20, invoices=50)
        pid = await bench.connect(realm)
        await bench.wait_active(pid, within=120)

        async def cycles_since(since: datetime | None) -> int:
            return sum(1 for t in fetch_times(await bench.history(pid)) if since is None or t >= since)

        await wait_for(lambda: _at_least(cycles_since(None), 3), within=60, what="warm-up cycles", every=0.5)
        await bench.reset_calls(realm)
        since = datetime.now(UTC)
        t0 = time.perf_counter()
        await asyncio.sleep(cycles * INTERVAL)
        await wait_for(
            lambda: _at_least(cycles_since(since), cycles + 1),
            within=cycles * 5 + 60,
            what=f"{cycles} idle cycles",
            every=0.5,
        )
        calls = await bench.qbo_calls(realm)
        until = datetime.now(UTC)
        seconds = time.perf_counter() - t0
        events = await bench.history(pid)
        fetches = [
            i for i, e in enumerate(events) if is_fetch(e) and e.event_time.ToDatetime(tzinfo=UTC) >= since
        ]
        window = events[fetches[0] : fetches[cycles]]  # exactly `cycles` cycles, first fetch to first fetch
        in_window_cycles = sum(1 for t in fetch_times(events) if since <= t <= until)
        kinds = Counter(event_name(e).removeprefix("EVENT_TYPE_") for e in window)
        runs = 1 + sum(1 for e in events if event_name(e) == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW")
    return write_result(
        NAME,
        size,
        {
            "cycles": cycles,
            "qbo_calls_per_cycle": round(calls["total"] / in_window_cycles, 3),
            "history_events_per_cycle": round(len(window) / cycles, 2),
            "actions_per_cycle": round(actions(window) / cycles, 2),
            "qbo_calls_by_operation": calls["by_operation"],
            "interval_seconds": INTERVAL,
            "seconds_per_cycle": round(seconds / in_window_cycles, 3),
            "events_by_type_per_cycle": {k: round(v / cycles, 2) for k, v in sorted(kinds.items())},
            "workflow_runs": runs,
            "notes": (
                "One partner, SYNC_INTERVAL_SECONDS=1, nothing changing. Calls: emulator count over the window "
                "(one CDC call per cycle is the floor). Events: history between consecutive fetch_changes "
                "(its scheduling, or the marker of the local activity it is since patch cycle-fetch-local) "
                "across all runs of the workflow id. Actions: activity scheduled (+retries), timer "
                "started, signal, search-attribute upsert, properties modified, update accepted, marker, "
                "child/external initiated, run started; queries and heartbeats are not in history and not counted."
            ),
        },
    )


async def _at_least(count, n: int) -> bool:
    return (await count) >= n
