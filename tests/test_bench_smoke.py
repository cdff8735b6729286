"""The cheapest benchmark end to end with a minimal size: `make bench` keeps working. No timing asserted."""

from __future__ import annotations

import asyncio
import json

from bench import idle_cycle


def test_idle_cycle_benchmark_runs(tmp_path, monkeypatch):
    for var in ("DATABASE_URL", "TEMPORAL_ADDRESS", "QBO_EMULATOR_URL", "API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path))
    monkeypatch.setitem(idle_cycle.SIZES, "small", 3)
    asyncio.run(idle_cycle.run("small"))
    result = json.loads((tmp_path / "idle_cycle.json").read_text())
    assert result["name"] == "idle_cycle" and result["cycles"] == 3
    assert {
        "commit",
        "cores",
        "size",
        "qbo_calls_per_cycle",
        "history_events_per_cycle",
        "actions_per_cycle",
    } <= set(result)
    assert result["qbo_calls_per_cycle"] >= 1 and result["history_events_per_cycle"] > 0
