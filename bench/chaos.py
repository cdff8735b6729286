"""The chaos soak (PRODUCT.md §8 `chaos`, `make chaos`):

    python -m bench.chaos --duration 300 [--partners 20] [--seed 1] [--out bench/results/chaos.json]

Starts the whole service with `devstack.LocalStack` (2 worker processes, a 5 s sync interval), connects
N partners through the real OAuth flow, each to its own seeded emulator company with deposits on, and for
`--duration` seconds runs at once: platform payments and payouts through the API, a bookkeeper changing
each company in QBO (edits, partial payments, new invoices, voids, and deleting or voiding the Payments and
deleting the Deposits this service posted), partners clicking Connect and choosing another partner's
company, the emulator injecting 429s, 500s,
503s, latency and timeouts (half the time with the write applied before the answer is lost), workers
SIGKILLed and restarted at random times and PostgreSQL restarted once. Everything random comes from one
seeded RNG. Then it settles and checks (`bench/chaos_check.py`), prints one JSON object, writes it to
`--out` and exits 1 unless duplicates, missing payments and mismatches are all 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.chaos_actors import (
    POSTING_CHANGES,
    Bookkeeper,
    ServiceApi,
    Tally,
    bookkeeper_traffic,
    connect_partner,
    wrong_company_clicks,
)
from bench.chaos_check import check_partner, settle
from bench.chaos_platform import platform_traffic
from devstack.stack import LocalStack, StackConfig
from settings import split_keys

ROOT = Path(__file__).resolve().parents[1]
ZEROS = ("duplicate_payments", "duplicate_deposits", "duplicate_refunds", "missing_payments", "invoice_mismatches",
         "deposit_mismatches", "changes_not_flagged", "flagged_not_changed", "reposted")
FAST_RETRY_AFTER = 5.0  # seconds: the Retry-After of injected 429s under `fast_recovery`
log = logging.getLogger("chaos")


class Chaos:
    def __init__(self, stack: LocalStack, rng: random.Random, start: float, until: float,
                 kill_window: float = 1.0, throttle_retry_after: float | None = None) -> None:
        self.stack, self.rng, self.start, self.until = stack, rng, start, until
        self.throttle_retry_after = throttle_retry_after
        self.kill_until = start + kill_window * (until - start)
        self.worker_kills = 0
        self.postgres_restarts = 0

    async def faults(self, emulator: httpx.AsyncClient) -> None:
        """New fault mixes every 10-20 s; timeouts alternate between lost answers after the write applied
        (the exactly-once case) and requests that never applied."""
        for phase in range(1000):
            spec = {"rate_429": self.rng.uniform(0.03, 0.10), "rate_500": self.rng.uniform(0.02, 0.06),
                    "rate_503": self.rng.uniform(0.0, 0.04), "latency_ms": self.rng.choice([0, 20, 100]),
                    "timeout_rate": self.rng.uniform(0.03, 0.08), "timeout_seconds": self.rng.uniform(0.5, 3),
                    "timeout_after_apply": phase % 2 == 0, "random_seed": self.rng.randrange(2**31)}
            if self.throttle_retry_after is not None:
                spec["retry_after_seconds"] = self.throttle_retry_after
            (await emulator.put("/_emulator/faults", json=spec)).raise_for_status()
            if not await self._sleep(self.rng.uniform(10, 20)):
                return

    async def kill_workers(self) -> None:
        """SIGKILL a random worker at random times (within the kill window), restart it 0.5-4 s later;
        bounded in count."""
        span = self.until - self.start
        for _ in range(200):
            if not await self._sleep(self.rng.uniform(span / 12, span / 5)) or time.monotonic() > self.kill_until:
                return
            index = self.rng.randrange(len(self.stack.workers))
            self.stack.kill_worker(index)
            self.worker_kills += 1
            log.info("killed worker %d (kill #%d)", index + 1, self.worker_kills)
            await asyncio.sleep(self.rng.uniform(0.5, 4))
            await asyncio.to_thread(self.stack.restart_worker, index)

    async def restart_postgres(self) -> None:
        span = self.until - self.start
        if not await self._sleep(self.rng.uniform(0.3, 0.6) * span):
            return
        log.info("restarting PostgreSQL")
        await asyncio.to_thread(self.stack.restart_postgres)
        self.postgres_restarts += 1

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the soak ends first; False when it did."""
        left = self.until - time.monotonic()
        await asyncio.sleep(max(0.0, min(seconds, left)))
        return time.monotonic() < self.until


async def run(duration: float, partners: int, seed: int, data_dir: Path,
              settle_limit: float = 300, kill_window: float = 1.0, every_change: bool = False,
              fast_recovery: bool = False) -> dict[str, Any]:
    """The soak; `kill_window` is the fraction of it during which workers are killed (an activity lost
    with a killed worker is retried only when its start-to-close timeout lapses, up to 2 minutes later).
    `every_change`: partner i's bookkeeper owes the i-th change to our postings (delete a Payment, void
    one, delete a Deposit, round-robin), made as soon as there is one to change, so a short soak covers
    each whatever the random draws (`make test`'s 60 s soak).
    `fast_recovery` (`make test`'s soak): what the service waits for once the faults stop is shortened on
    the test's side, never in the service: the injected 429s carry a 5 s Retry-After (Intuit sends none, so
    each 429 holds the realm 60 s in that worker, qbo/limiter.py), and settling has Temporal retry at once
    the activities waiting out a retry backoff (2 s doubling to 2 min, workflows/policies.py), as an operator
    would once QBO is back. Without it a 60 s soak settled in 15-65 s, waiting on those clocks alone."""
    rng = random.Random(seed)
    config = StackConfig.ephemeral(data_dir, workers=2, env={"SYNC_INTERVAL_SECONDS": "5", "LOG_LEVEL": "WARNING"})
    stack = LocalStack(config)
    await asyncio.to_thread(stack.start)
    api = ServiceApi(stack.api_url, next(iter(split_keys(stack.env.get("API_KEY", ""))), None))
    emulator = httpx.AsyncClient(base_url=stack.emulator_url, timeout=30)
    books: list[Bookkeeper] = []
    try:
        gate = asyncio.Semaphore(4)

        async def onboard(i: int) -> dict:
            async with gate:
                return await connect_partner(api, stack.emulator_url, i, seed * 1000 + i)

        connected = await asyncio.gather(*(onboard(i) for i in range(partners)))
        for c in connected:
            books.append(Bookkeeper(stack.emulator_url, c["realm"], api, c["pid"]))
            await books[-1].login()
        log.info("%d partners connected; the soak runs for %.0f s", partners, duration)

        tally = Tally()
        start = time.monotonic()
        until = start + duration
        chaos = Chaos(stack, random.Random(rng.random()), start, until, kill_window,
                      FAST_RETRY_AFTER if fast_recovery else None)
        loops = [chaos.faults(emulator), chaos.kill_workers(), chaos.restart_postgres()]
        loops += [platform_traffic(api, c["pid"], random.Random(rng.random()), until, tally) for c in connected]
        owed = list(POSTING_CHANGES)
        loops += [bookkeeper_traffic(b, random.Random(rng.random()), until, tally,
                                     owed[i % len(owed)] if every_change else None) for i, b in enumerate(books)]
        loops.append(wrong_company_clicks(api, {c["pid"]: c["realm"] for c in connected},
                                          random.Random(rng.random()), until, tally))
        await asyncio.gather(*loops)
        soak_seconds = time.monotonic() - start

        (await emulator.delete("/_emulator/faults")).raise_for_status()
        faults_injected = (await emulator.get("/_emulator/requests")).json()["faults_injected"]
        stack.check()
        settle_seconds, stuck = await settle(api, [c["pid"] for c in connected], settle_limit,
                                             stack.temporal_address if fast_recovery else None)
        deadline = time.monotonic() + 120
        # Side by side: each waits for its own partner's reconciliation run (that workflow's next cycle), so the
        # four waits overlap instead of adding up (~1.5 s each, one after another).
        checks = list(await asyncio.gather(*(check_partner(api, b, c["pid"], deadline)
                                             for c, b in zip(connected, books, strict=True))))
        stack.check()
    finally:
        for b in books:
            await b.aclose()
        await emulator.aclose()
        await api.aclose()
        await asyncio.to_thread(stack.stop)

    result: dict[str, Any] = {
        "name": "chaos", "commit": _commit(), "cores": os.cpu_count(),
        "size": "full" if duration >= 300 and partners >= 20 else "small",
        "seconds": round(soak_seconds, 1), "partners": partners, "seed": seed,
        "faults_injected": faults_injected, "worker_kills": chaos.worker_kills,
        "postgres_restarts": chaos.postgres_restarts,
    }
    for key in ZEROS:
        result[key] = sum(c[key] for c in checks)
    result["stuck_partners"] = len(stuck)
    # Accepted by the callback's answer, or found connected to another company after settling.
    result["wrong_company_accepted"] = tally.actions["wrong_company_accepted"] + sum(c["moved"] for c in checks)
    attention: Counter = Counter()
    changed: Counter = Counter()
    for c in checks:
        attention.update(c["needs_attention"])
        changed.update(c["changed_in_qbo"])
    result |= {
        "settle_seconds": round(settle_seconds, 1),
        "platform_payments": sum(c["payments"] for c in checks),
        "platform_payouts": sum(c["payouts"] for c in checks),
        "platform_refunds": sum(c["refunds"] for c in checks),
        "invoices_checked": sum(c["invoices_checked"] for c in checks),
        "needs_attention": dict(attention),
        "changed_in_qbo": dict(changed),
        "actions": dict(tally.actions), "errors_met": dict(tally.errors),
        "details": ([{"kind": "stuck", "partner": pid} for pid in stuck]
                    + [d for c in checks for d in c["details"]])[:50],
    }
    return result


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of chaos before settling")
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chaos.json")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs) afterwards")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data_dir = Path(tempfile.mkdtemp(prefix="qbo-chaos-"))
    log.info("stack folder (logs): %s", data_dir)
    result = asyncio.run(run(args.duration, args.partners, args.seed, data_dir))
    text = json.dumps(result, indent=2, default=str)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    ok = passed(result)
    if ok and not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if ok else 1


def passed(result: dict[str, Any]) -> bool:
    """The four zeros of §8 (duplicates counted for Payments and Deposits), every posting a bookkeeper
    changed in QBO flagged and none re-posted, no partner left stuck, and no partner moved to another company
    by a Connect click (PRODUCT.md §5)."""
    return (all(result[k] == 0 for k in ZEROS) and result["stuck_partners"] == 0
            and result.get("wrong_company_accepted", 0) == 0)


if __name__ == "__main__":
    sys.exit(main())
