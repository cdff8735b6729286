"""The benchmarks end to end at a minimal size, so `make bench` keeps working. No timing asserted.

One stack serves them all (`bench.common.shared_stack`), and they run side by side: starting a stack costs
more than the tiny runs themselves, and each benchmark counts only its own partners' calls, events and
deliveries (their timings, which the others disturb, are not asserted). The stack's sync interval is the
idle-cycle benchmark's (1 s), which the fleet ramp measures against; the webhook load does not care (its
changes are seen by webhook or by the next cycle alike).
"""

from __future__ import annotations

import asyncio
import json

from bench import fleet, idle_cycle, webhook_ladder, webhook_load
from bench.common import shared_stack


async def _run_all() -> None:
    async with shared_stack({"SYNC_INTERVAL_SECONDS": str(idle_cycle.INTERVAL)}):
        await asyncio.gather(idle_cycle.run("small"), fleet.run("small"), webhook_load.run("small"))
        # after: the webhook load reads the API's signal counters, which count every partner's deliveries
        await webhook_ladder.run("small")


def test_benchmarks_run(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "TEMPORAL_ADDRESS", "QBO_EMULATOR_URL", "API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path))
    monkeypatch.setitem(idle_cycle.SIZES, "small", 3)
    monkeypatch.setitem(fleet.SIZES, "small", (idle_cycle.INTERVAL, (1,), 120))
    monkeypatch.setattr(fleet, "WINDOW_SLACK", 3)  # a window of 4 cycles: one is due in it even when cycles are slow
    monkeypatch.setitem(webhook_load.SIZES, "small", webhook_load.Load(
        partners=1, deliveries_per_second=3, seconds=1, events_per_delivery=2, realms_per_delivery=1))
    monkeypatch.setitem(webhook_ladder.SIZES, "small", webhook_load.Load(
        partners=1, deliveries_per_second=0, seconds=1, events_per_delivery=2, realms_per_delivery=1))
    monkeypatch.setitem(webhook_ladder.RATES, "small", (2.0, 3.0))
    asyncio.run(_run_all())

    idle = json.loads((tmp_path / "idle_cycle.json").read_text())
    assert idle["name"] == "idle_cycle" and idle["cycles"] == 3
    assert {"commit", "cores", "size", "qbo_calls_per_cycle", "history_events_per_cycle",
            "actions_per_cycle"} <= set(idle)
    # > 0, not ≥ 1: a cycle whose fetch was scheduled but had not called QBO yet when the calls were read
    # counts in the cycles and not in the calls (3 calls over 4 cycles seen when the others slowed it down).
    assert idle["qbo_calls_per_cycle"] > 0 and idle["history_events_per_cycle"] > 0

    ramp = json.loads((tmp_path / "fleet.json").read_text())
    [step] = ramp["steps"]
    assert step["partners"] == 1 and step["cycles_measured"] >= 1, step
    assert {"worker", "temporal", "postgres", "emulator", "api", "bench", "total"} <= set(step["cpu_percent"])
    assert ramp["limiting_process"] in step["cpu_percent"]
    assert step["latest_cycles"][0]["delay_seconds"] == step["max_start_delay_seconds"], step
    assert ramp["worker_settings"]["worker_max_cached_workflows"] >= 1

    hooks = json.loads((tmp_path / "webhook_load.json").read_text())
    assert (hooks["deliveries"], hooks["events"]) == (3, 6), hooks
    assert hooks["events_acknowledged"] == hooks["events_new"] == hooks["events_stored"] == 6, hooks
    assert hooks["events_by_route_result"] == {"signalled": 6}, hooks
    assert 1 <= hooks["sync_now_signals"]["sent"] <= 3, hooks
    assert (hooks["changes_visible"], hooks["changes_lost"], hooks["failed_deliveries"]) == (6, 0, 0), hooks
    assert hooks["cycles"] >= 1 and hooks["activities_per_cycle"] >= 1 and hooks["history_events_per_cycle"] > 0, hooks

    ladder = json.loads((tmp_path / "webhook_ladder.json").read_text())
    assert [(s["target_deliveries_per_second"], s["deliveries"], s["events"]) for s in ladder["steps"]] == [
        (2.0, 2, 4), (3.0, 3, 6)], ladder
    # each step awaits its own changes: later numbers than the first step's (one sequence over the steps)
    assert all((s["changes_visible"], s["changes_lost"], s["failed_deliveries"]) == (s["events"], 0, 0)
               for s in ladder["steps"]), ladder
    assert "holds_up_to_deliveries_per_second" in ladder
