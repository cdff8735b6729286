"""Webhooks under load at rising rates: up to which rate the p99 from delivery to visible stays within
500 ms, every acknowledgement within 3 s, and nothing is lost, on this machine.

bench/webhook_load.py measures one rate (50 deliveries/s); on 2 cores that shared with the load generator
and the emulator it saturates the machine, and a saturated stack's latency says only that it is saturated.
This benchmark runs the same partners, generator, deliveries and timing (its Sender, Visibility and
drive), at each rate of `RATES` for `seconds`, one step after the other on the same stack; each step is
measured on its own, from its first delivery until its last change is visible.

The steps are not independent: a cycle's CDC call reads back the last 5 minutes of changes
(activities/sync.py CDC_OVERLAP), so a later step's cycles also read what earlier steps changed. That
makes the later (faster) steps look worse than they would alone, never better.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import replace

import asyncpg
import httpx

from bench.common import Bench, running_stack, wait_for, write_result
from bench.processes import MachineCpu, StackCpu, per_unit_ms
from bench.webhook_load import SETTLE, Company, Load, Sender, drive, onboard, settled, summary, verifier_token
from bench.webhook_load import SIZES as LOAD_SIZES
from bench.webhook_watch import Visibility

NAME = "webhook_ladder"
SIZES = {"small": replace(LOAD_SIZES["small"], seconds=8), "full": replace(LOAD_SIZES["full"], seconds=30)}
RATES = {"small": (5.0, 10.0), "full": (10.0, 20.0, 30.0, 40.0, 50.0)}
P99_LIMIT_MS, ACK_LIMIT_MS = 500, 3000
STEP_FIELDS = ("target_deliveries_per_second", "deliveries", "events", "deliveries_per_second", "p50_ms", "p99_ms",
               "max_ms", "ack_p99_ms", "acks_over_3s", "failed_deliveries", "changes_visible", "changes_lost",
               "limiting_process", "other_load_cpu_percent")


async def step(bench: Bench, db: asyncpg.Pool, companies: list[Company], load: Load, seq: itertools.count) -> dict:
    """One rate, measured alone: its own deliveries, their changes awaited until visible (or SETTLE)."""
    api = bench.stack.api_url
    visibility = Visibility(db, api, tuple(c.pid for c in companies))
    # One sequence over all steps: a change is seen when its invoice shows a DocNumber of this number or a
    # later one, so numbers must not start again at 1.
    sender = Sender(api, verifier_token(bench), visibility, seq=seq)
    stop = asyncio.Event()
    watcher = asyncio.create_task(visibility.watch(stop))
    cpu, machine = StackCpu(bench.stack), MachineCpu()
    try:
        await drive(load, companies, sender)
        last_post = time.perf_counter()
        stop.set()
        await wait_for(lambda: settled(visibility, last_post), within=SETTLE + 5, what="changes visible")
        cpu_percent, cpu_seconds, machine_percent = cpu.read(), cpu.seconds(), machine.read()
    finally:
        watcher.cancel()
        await asyncio.gather(visibility.aclose(), sender.aclose())
    result = summary(load, sender, visibility, {}, cpu_percent, machine_percent)
    return {k: result[k] for k in STEP_FIELDS} | {"cpu_ms_per_delivery": per_unit_ms(cpu_seconds, len(sender.posted_at))}


def holds(s: dict) -> bool:
    return (s["p99_ms"] <= P99_LIMIT_MS and s["ack_p99_ms"] <= ACK_LIMIT_MS and not s["changes_lost"]
            and not s["failed_deliveries"])


async def run(size: str) -> dict:
    base = SIZES[size]
    steps: list[dict] = []
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": "3600"}) as bench:
        db = await asyncpg.create_pool(bench.stack.database_url, min_size=1, max_size=2)
        qbo = httpx.AsyncClient(base_url=bench.stack.emulator_url, timeout=30, limits=httpx.Limits(max_connections=64))
        companies: list[Company] = []
        try:
            companies = await onboard(bench, qbo, base.partners)
            seq = itertools.count(1)
            for rate in RATES[size]:
                steps.append(await step(bench, db, companies, replace(base, deliveries_per_second=rate), seq))
        finally:
            await asyncio.gather(qbo.aclose(), *(c.http.aclose() for c in companies))
            await db.close()
    held = [s["target_deliveries_per_second"] for s in steps if holds(s)]
    return write_result(NAME, size, {
        "partners": base.partners, "events_per_delivery": base.events_per_delivery,
        "realms_per_delivery": base.realms_per_delivery, "seconds_per_step": base.seconds,
        "steps": steps,
        "holds_up_to_deliveries_per_second": max(held) if held else None,
        "notes": (f"Holds: p99 delivery-to-visible <= {P99_LIMIT_MS} ms, ack p99 <= {ACK_LIMIT_MS} ms, nothing lost or "
                  "failed. Steps run one after the other on the same stack and partners; each later step's cycles "
                  "also read back the earlier steps' changes (CDC's 5-minute overlap), so it looks worse than it "
                  "would alone. The load generator and the emulator share the 2 cores with the service."),
    })
