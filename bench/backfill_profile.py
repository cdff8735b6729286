"""Where a backfill's seconds go: the sync activities run in this process under cProfile, against the same
stack as `bench.backfill` (emulator over HTTP, embedded PostgreSQL), in the order the workflow calls them.

    .venv/bin/python -m bench.backfill_profile [--size small|full] [--cprofile] [--top 25]

The stack's worker is stopped before the partner connects, so the workflow waits and this process does
its backfill instead. It prints the wall time of each activity and of each stage inside them (a page's QBO
request, deciding, each SQL step; the request ahead overlaps the others, so stages add up to more than the
activity), and with `--cprofile` this process's time per function. A measurement for the README's and the
benchmark's notes, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import time
from collections import defaultdict

from temporalio.testing import ActivityEnvironment

import activities.backfill as backfill_module
from activities.sync import SyncActivities
from bench.backfill import SIZES
from bench.common import running_stack
from qbo import client as qbo_client
from qbo.client import QboApi, QboCompany
from settings import load_settings
from store import sync_repo
from store.db import create_pool
from workflows.models import ApplyInput, BackfillInput
from workflows.partner import BACKFILL_ENTITIES

STAGES = {  # (owner, attribute, label): wrapped with a wall-clock timer for the run
    (QboCompany, "_raw_page", "QBO page request (overlapped)"),
    (backfill_module, "decide_new", "parse + decide (rules)"),
    (qbo_client, "raw_objects", "page's objects read (RawObject)"),
    (qbo_client, "decode_answer", "page's answer decoded"),
    (sync_repo, "_write_args", "insert's parameters built"),
    (sync_repo, "insert_new", "SQL: insert new platform rows"),
    (sync_repo, "stage", "SQL: COPY into staging"),
    (sync_repo, "save_progress", "SQL: backfill position"),
    (backfill_module.BackfillSteps, "_take_page", "a page's transaction (overlapped)"),
    (SyncActivities, "_apply_batch", "apply_staged batches"),
}


def _timed(seconds: dict[str, float], label: str, fn, cpu: dict[str, float]):  # noqa: ANN001, ANN202
    if asyncio.iscoroutinefunction(fn):
        async def timed_async(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            started = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - started
        return timed_async

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # A plain function runs alone on the event loop's thread: its process CPU is its own.
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - started
            cpu[label] += time.process_time() - cpu_started
    return timed


async def profile(size: str, top: int, use_cprofile: bool) -> str:
    invoices, customers = SIZES[size]
    async with running_stack("backfill-profile") as bench:
        realm = await bench.company(customers=customers, invoices=invoices)
        bench.stack.kill_worker(0)  # the workflow waits; this process runs its activities
        pid = await bench.connect(realm)
        # The stack's database and emulator, and the dev secrets its children generated (tokens decrypt).
        secrets = json.loads((bench.stack.config.data_dir / "dev-secrets.json").read_text())
        settings = load_settings({**bench.stack.env, **secrets})
        pool = await create_pool(settings.database_url, max_size=20)
        qbo = QboApi(settings, pool)
        acts, env = SyncActivities(pool, qbo), ActivityEnvironment()
        seconds: dict[str, float] = defaultdict(float)
        stages: dict[str, float] = defaultdict(float)
        stage_cpu: dict[str, float] = defaultdict(float)
        for owner, name, label in STAGES:
            setattr(owner, name, _timed(stages, label, getattr(owner, name), stage_cpu))
        profiler = cProfile.Profile()
        t0, cpu0 = time.perf_counter(), time.process_time()
        if use_cprofile:
            profiler.enable()
        try:
            for entity in BACKFILL_ENTITIES:  # what PartnerIntegrationWorkflow._backfill does
                while True:
                    started = time.perf_counter()
                    chunk = await env.run(acts.backfill_chunk, BackfillInput(partner_id=pid, entity=entity))
                    seconds["backfill_chunk"] += time.perf_counter() - started
                    if chunk.staged:
                        started = time.perf_counter()
                        await env.run(acts.apply_staged, ApplyInput(partner_id=pid))
                        seconds["apply_staged"] += time.perf_counter() - started
                    if chunk.finished:
                        break
        finally:
            profiler.disable()
            await qbo.aclose()
            await pool.close()
        total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rows = invoices + customers
    out = io.StringIO()
    out.write(f"{rows} rows in {total:.2f} s wall, {cpu:.2f} s CPU of this process ({cpu / rows * 1e6:.0f} µs a row); "
              "activities: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()) + f"; cores {os.cpu_count()}\n")
    for label, spent in sorted(stages.items(), key=lambda kv: -kv[1]):
        used = f"   CPU {stage_cpu[label]:6.2f} s ({stage_cpu[label] / rows * 1e6:.0f} µs a row)" if label in stage_cpu else ""
        out.write(f"  {label:40s} {spent:7.2f} s wall{used}\n")
    if use_cprofile:
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cprofile", action="store_true", help="also profile per function (slows it down)")
    args = parser.parse_args()
    print(asyncio.run(profile(args.size, args.top, args.cprofile)))


if __name__ == "__main__":
    main()
