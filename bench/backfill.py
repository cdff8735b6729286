"""Backfill: a partner connects a large company; how long until every customer and invoice is in PostgreSQL.

Measured from the OAuth callback to the workflow's `status` showing backfill done == total (polled every
0.25 s through the API), with the worker's RSS sampled every 0.2 s. QBO calls are the emulator's count for
the realm over the same span (connect-time calls included, broken down by operation). Then, in the same
run and on the same emulator, a bare paged download of the same data with plain httpx (same statements,
pages of 1000, JSON parsed, nothing stored) so `seconds / download_seconds` is our own overhead; and the
same download paced by the client's per-realm limiter (QBO's 10 requests per second, qbo-reference §9),
the floor any client that keeps QBO's limits can reach (`limited_download_seconds`).
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager, nullcontext

import httpx
import psutil

from bench.common import (
    Bench,
    WorkerSampler,
    activity_seconds,
    list_all,
    pages_min,
    running_stack,
    wait_for,
    write_result,
)
from qbo import query as query_builder
from qbo.limiter import Limits, RealmLimiter

NAME = "backfill"
NOTES = (
    "seconds: OAuth callback → status backfill done == total (connect-time calls included: company info, "
    "accounts, preferences, one COUNT per entity — hence qbo_calls above qbo_calls_min; the onboarding cycle's "
    "full sweep starts the moment the backfill ends, so one or two of its queries may be counted too). "
    "download_seconds: plain httpx paging the same statements, same emulator, same run, after that sweep; "
    "limited_download_seconds: the same through the service's per-realm limiter (10 requests/s, "
    "qbo-reference §9), the floor for any client within QBO's limits: 112 requests cannot take less than ~11 s. "
    "cpu_seconds: CPU per process of the stack during the backfill (PostgreSQL with its backends). "
    "PROFILE (issue 15; bench.backfill_profile runs the activities in-process with a timer per stage, "
    "--cprofile per function). Before (1d13bc6; 99 s at 1291edf): backfill_chunk 64 s + apply_staged 34 s, "
    "run one after the other; the worker spent ~370 µs of Python per row: JSON with Decimal 36 µs, a pydantic "
    "model per object 56 µs, the model written back to JSON for staging 124 µs, then in apply reading it "
    "again 60 µs, facts 54 µs, decision 43 µs; PostgreSQL wrote every object twice (staging, platform row) and "
    "deleted it again. On the shared machine of this run that was 42 s of worker CPU and 28 s of PostgreSQL "
    "CPU (82 s in all). After: the worker reads only Id/SyncToken/LastUpdatedTime of each object (msgspec, "
    "~2 µs), keeps its JSON text, and decides new objects with their page (JSON to dict 14 µs, facts 19 µs, "
    "decision 19 µs of CPU per row), inserting them in one statement per page: nothing staged, nothing read "
    "back; QBO answers the next page while the worker decides this one and PostgreSQL writes the previous "
    "(stage wall times overlap: 110,000 rows in 62 s in-process under cProfile on the loaded machine, pages' "
    "transactions 59 s, QBO requests 47 s, rules 35 s). CPU of the stack fell from 82 s to 28–38 s (worker "
    "13–16 s, PostgreSQL 10–17 s) on the same machine; on a quiet 2-core machine that CPU alone means ≥ ~18 s, "
    "about 3× the download, so ≤ 2× needs it roughly halved. What is left: the rules' per-row validation (four pydantic models per invoice, "
    "~40 µs a row), PostgreSQL's insert (EXPLAIN ANALYZE of one page of 1,000 invoices: 65 ms, of which the "
    "foreign-key triggers take 44 ms: customer_id 31 ms, partner_id 14 ms), and QBO's 10 requests/s per realm. "
    "QUIET MACHINE (4119a10): 66 s, 1,667 rows/s, 10x the bare download, PostgreSQL 60 s of CPU: the page's "
    "INSERT (sampled in pg_stat_activity 110 times of 120). Why (70c2cb0, 06e3225): the invoice's customer_id came "
    "from a join on customers, and asyncpg's prepared statement got a generic plan made while customers was "
    "unanalysed, which scanned all the partner's customers for each invoice (100 pages replayed alone: ~40 of "
    "them took 1-4 s, PostgreSQL 40 s of CPU; 5.6 s with a lookup per row). The write now reads the customer "
    "by primary key (its id is platform_id of its QBO identity), whatever the statistics "
    "(tests/sync/test_write_plans.py). AT 06e3225, quiet: 22 s, 4,928 rows/s, 2.5x the bare download (9 s this "
    "run) and 2.0x the download paced at QBO's 10 requests/s (11.4 s); PostgreSQL 8.3 s of CPU, the worker "
    "19.7 s: the worker is now the limit (the rules' parse and decision of each object: four pydantic-validated "
    "models per invoice, 100-180 us of CPU a row). This run's machine was slower than 4119a10's (the emulator's "
    "seeding, pure CPU, took 20.9 s against 11.9 s), so compare the ratios. 10,000 rows/s is out of reach "
    "within QBO's limits in any case: 123 calls at 10 requests/s take >= 12.3 s, i.e. <= ~8,900 rows/s for "
    "110,000 rows; only batch queries (up to 30 queries per request, 40 batch requests a minute, qbo-reference "
    "§9) would lift that floor. "
    "RULES CPU (branch rulescpu, issue 15 item 1): instructions per object of decide_new, counted with valgrind "
    "(cachegrind; deterministic where CPU seconds on the shared machine were +-20 % from run to run), 300 seeded "
    "invoices: before 320k an invoice (reading the whole JSON with loads 91k, parse 116k, decision 129k), 156k a "
    "customer; after 263k (-18 %) and 145k (-7 %). The reading fell to 43k: the sync reads only the top-level keys "
    "the parser reads (qbo.jsonio.object_reader with SyncedEntity.keys, in the backfill and in apply alike); "
    "to_money/to_instant answer an already exact value at once (the models re-validate the same Decimals ~10 "
    "times an invoice). Same machine, same load, full size, one run each: worker CPU 24.4 s -> 19.7 s (222 -> 179 "
    "us a row), PostgreSQL 12.8 -> 10.4 s. Not halved: what is left is pydantic itself, four models an invoice "
    "(facts, balance/status, state, decision) validated with Python validators: a plain 16-field model costs "
    "~5 us, InvoiceState with its validators ~9.5 us, and model_construct ~6.5 us (it is Python), so skipping "
    "validation would not buy much either. pydantic's model_validate_json was measured and refused: in pydantic "
    "2.14.3 a JSON number for a Decimal field passes through float (12345678901234567.89 -> 12345678901234568). "
    "bench.decide_micro measures the decision's CPU per object on seeded pages; bench.backfill_profile now "
    "prints the process's CPU and that of the plain-function stages (small, loaded machine: 197 us a row, of "
    "which rules 110, the page's objects 16, the insert's parameters 11). "
    "WHY NOT <= 2x AND 10,000 ROWS/S ON THIS MACHINE (session 6): the stack is CPU-bound on its 2 cores: worker "
    "16.8-20 s, PostgreSQL 7.8-9 s, emulator ~2.5 s, dev server ~1.5 s (cpu_seconds), 29-33 s of CPU, so the wall "
    "cannot go below 14.5-16.5 s whatever the overlap; the worker, one event loop, is the critical path (busy "
    "~85 % of the wall). The ratio moves from run to run with both of its terms: seven runs of the same code "
    "on one day gave 2.01, 2.01, 2.03, 2.05, 2.05, 2.19 and 2.57x (median 2.05x), the sync 19.6-23.9 s and the "
    "bare download alone 8.4-11.3 s. Deciding pages in a second process (110fb5a, reverted in 4c7adb8) took 23.6/23.9 s against "
    "21.2/22.9 s inline, back to back on the quiet machine: it freed the event loop but added ~5 s of CPU "
    "(pickling a page's JSON and the rows, a second JSON read), and there is no spare core to absorb it. "
    "10,000 rows/s needs the stack under ~22 s of CPU on 2 cores (the worker under ~11 s) and QBO's 10 "
    "requests/s floor lifted (batch queries)."
)
# huge: is the worker's peak RSS flat in the rows (pages streamed, no whole-company list)? Its own file.
SIZES = {"small": (5_000, 500), "full": (100_000, 10_000), "huge": (500_000, 50_000)}


async def bare_download(
    bench: Bench, realm: str, entities: tuple[str, ...] = ("Customer", "Invoice"), *, limited: bool = False
) -> tuple[float, int, int]:
    """Page through each entity as fast as one client can: (seconds, rows, calls). `limited`: each request
    waits for a slot of a fresh `RealmLimiter` with the service's limits, as the sync's requests do."""
    limiter = RealmLimiter(Limits()) if limited else None

    def slot() -> AbstractAsyncContextManager[object]:
        return limiter.slot() if limiter is not None else nullcontext()

    token = await bench.bookkeeper_token(realm)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": "application/text",
    }
    rows = calls = 0
    async with httpx.AsyncClient(base_url=bench.stack.emulator_url, timeout=600, headers=headers) as http:
        t0 = time.perf_counter()
        for entity in entities:
            position = 1
            while True:
                statement = query_builder.select(
                    entity,
                    [],
                    order_by="Id",
                    start_position=position,
                    max_results=query_builder.MAX_PAGE,
                    include_inactive=True,
                )
                async with slot():
                    resp = await http.post(
                        f"/v3/company/{realm}/query", params={"minorversion": "75"}, content=statement
                    )
                resp.raise_for_status()
                calls += 1
                items = resp.json()["QueryResponse"].get(entity, [])
                rows += len(items)
                if len(items) < query_builder.MAX_PAGE:
                    break
                position += query_builder.MAX_PAGE
        return time.perf_counter() - t0, rows, calls


def cpu_seconds(bench: Bench) -> dict[str, float]:
    """CPU seconds used so far by each child of the stack and its descendants (PostgreSQL's backends): on a
    shared machine, where wall-clock seconds depend on the neighbours, the CPU each part spent does less."""
    totals: dict[str, float] = {}
    for child in bench.stack.children:
        if child.pid is None:
            continue
        try:
            root = psutil.Process(child.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        total = 0.0
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system  # children_*: exited, reaped
        totals[child.name] = total
    return totals


def _spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after}


async def run(size: str) -> dict:
    invoices, customers = SIZES[size]
    async with running_stack(NAME) as bench:
        t_seed = time.perf_counter()
        realm = await bench.company(customers=customers, invoices=invoices)
        seed_seconds = time.perf_counter() - t_seed
        sampler = WorkerSampler(bench.worker_pid).start()
        cpu0 = cpu_seconds(bench)
        t0 = time.perf_counter()
        pid = await bench.connect(realm)

        async def backfilled() -> dict | None:
            body = await bench.status(pid)
            fill = body.get("backfill") or {}
            return body if fill.get("total") and fill.get("done") == fill["total"] else None

        status = await wait_for(backfilled, within=1800, what="the backfill", every=0.25)
        seconds = time.perf_counter() - t0
        cpu1 = cpu_seconds(bench)
        calls = await bench.qbo_calls(realm)
        sampler.stop()
        rows = status["backfill"]["total"]
        in_activities = activity_seconds(await bench.history(pid))

        async def first_cycle_done() -> bool:
            runs = (await bench.api.get(f"/partners/{pid}/qbo/sync-runs")).raise_for_status().json()
            return any(r["trigger"] == "onboarding" and r["finished_at"] for r in runs)

        # The workflow's first cycle after onboarding is a full sweep (every object read again): the download
        # below is measured after it, not beside it.
        await wait_for(first_cycle_done, within=1800, what="the onboarding cycle", every=0.5)
        cpu_download = cpu_seconds(bench)
        download_seconds, download_rows, download_calls = await bare_download(bench, realm)
        cpu2 = cpu_seconds(bench)
        limited_seconds, _, _ = await bare_download(bench, realm, limited=True)
        stored = {row["source"] for row in await list_all(bench.api, f"/partners/{pid}/invoices")}
        assert stored == {"qbo"}, stored
    return write_result(
        NAME,
        size,
        {
            "invoices": invoices,
            "customers": customers,
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds),
            "qbo_calls": calls["total"],
            "qbo_calls_min": pages_min(invoices, customers),
            "qbo_calls_by_operation": calls["by_operation"],
            "download_seconds": round(download_seconds, 2),
            "download_rows": download_rows,
            "download_calls": download_calls,
            "sync_to_download_ratio": round(seconds / download_seconds, 2),
            "limited_download_seconds": round(limited_seconds, 2),
            "sync_to_limited_download_ratio": round(seconds / limited_seconds, 2),
            "cpu_seconds": _spent(cpu0, cpu1),
            "download_cpu_seconds": _spent(cpu_download, cpu2),
            "peak_rss_mb": round(sampler.peak_rss / 2**20, 1),
            "emulator_seed_seconds": round(seed_seconds, 2),
            "activity_seconds": in_activities,
            "notes": NOTES,
        },
    )
