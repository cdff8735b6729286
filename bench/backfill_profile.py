"""Where a backfill's seconds go: the sync activities run in this process under cProfile, against the same
stack as `bench.backfill` (emulator over HTTP, embedded PostgreSQL), in the order the workflow calls them.

    .venv/bin/python -m bench.backfill_profile [--size small|full] [--top 25]

The stack's worker is stopped before the partner connects, so the workflow waits and this process does
its backfill instead; the figures are this process's CPU per function (cProfile) plus the wall time of each
activity. A measurement for the README's and the benchmark's notes, not a test.
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

from activities.sync import SyncActivities
from bench.backfill import SIZES
from bench.common import running_stack
from qbo.client import QboApi
from settings import load_settings
from store.db import create_pool
from workflows.models import ApplyInput, BackfillInput
from workflows.partner import BACKFILL_ENTITIES


async def profile(size: str, top: int) -> str:
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
        profiler = cProfile.Profile()
        t0 = time.perf_counter()
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
        total = time.perf_counter() - t0
    out = io.StringIO()
    out.write(f"{invoices + customers} rows in {total:.2f} s wall; activities: "
              + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()) + f"; cores {os.cpu_count()}\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(asyncio.run(profile(args.size, args.top)))


if __name__ == "__main__":
    main()
