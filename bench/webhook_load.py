"""Webhooks under load: many partners' bookkeepers changing invoices at once, Intuit delivering the events
in batches; how long from a delivery to the change visible in the platform API, and is every event
acknowledged in time and none lost.

Each partner is an emulator company (2 customers, 6 invoices, seeded 10 minutes in the past: a real
company's accounts are older than CDC's 5-minute look-back) connected through the real OAuth flow, with
SYNC_INTERVAL_SECONDS=3600 so only webhooks trigger syncs. The benchmark plays Intuit's webhook sender
itself, open loop at a fixed rate (deliveries go out on schedule whether or not earlier ones were answered,
so a slow service can't slow the load down and hide its own latency). For each delivery it first makes the
changes in QBO (a sparse update of each invoice's DocNumber through the emulator's Accounting API, as a
bookkeeper, one batch request per company; not timed), then POSTs one signed CloudEvents delivery holding
those events (several per delivery and several realms per delivery, as Intuit batches them,
qbo-reference §11.1 and §11.3), built and signed by the emulator's own code. The emulator's sender is not pointed at the API, so nothing is
delivered twice.

Timed per change: from just before the POST of its delivery to the answer of a `GET
/partners/{pid}/invoices` showing it (or a later change of the same invoice); PostgreSQL says when to ask
(bench/webhook_watch.py), so the figure is an upper bound by one API request. Acknowledgement time is each
POST's answer time (Intuit wants 200 within 3 s, §11.1). Counted: events sent, events acknowledged (the
API's `received`/`new`), events stored and routed in `webhook_events`, `sync_now` signals sent and
coalesced, the cycles and their history events, and changes that never became visible (lost) within the settle time
(`SETTLE`, 300 s) after the last delivery.

The generator shares the cores with the service, so what it does per delivery is kept small: URLs and
headers are built once per company, the emulator's batch answers and the API's invoice pages are decoded
with msgspec into the two or three fields read, and connections are spread over small pools (one per
company for its bookkeeper, one per partner for its reads, a few for Intuit's POSTs), because httpcore
checks every connection of a pool on every request and response. cProfile showed httpx, httpcore and
stdlib JSON to be most of its CPU. What a real delivery pays stays in the timed path: the POST, and the GET
that shows a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

from bench.common import (
    Bench,
    activity_type,
    event_name,
    list_all,
    percentile,
    running_stack,
    wait_for,
    write_result,
)
from bench.processes import LogLines, MachineCpu, StackCpu, limiting_process, per_unit_ms, temporal_log
from bench.webhook_watch import DB_POLL, Change, Visibility
from qbo_emulator.entities.common import Event
from qbo_emulator.webhooks import QueuedEvent, cloudevents_body, sign

NAME = "webhook_load"


@dataclass(frozen=True)
class Load:
    partners: int
    deliveries_per_second: float
    seconds: float
    events_per_delivery: int = 4
    realms_per_delivery: int = 2


SIZES = {"small": Load(partners=10, deliveries_per_second=10, seconds=15),
         "full": Load(partners=100, deliveries_per_second=50, seconds=60)}
INVOICES = 6
INTUIT_POOLS = 8  # deliveries go out round-robin over this many clients (unbounded connections each)
ACK_LIMIT = 3.0
SETTLE = 300.0  # after the last delivery: a saturated stack drains its backlog before a change counts as lost
CONNECT_IN_FLIGHT = 16
QBO_PARAMS = {"minorversion": "75"}


class _Saved(msgspec.Struct):
    SyncToken: str


class _BatchItem(msgspec.Struct):
    bId: str
    Invoice: _Saved | None = None
    Fault: msgspec.Raw | None = None


class _BatchAnswer(msgspec.Struct):
    BatchItemResponse: list[_BatchItem]


# Only the fields read: the rest of each invoice (lines, amounts) is skipped, never built.
BATCH_ANSWER = msgspec.json.Decoder(_BatchAnswer)
@dataclass
class Invoice:
    platform_id: str
    qbo_id: str
    sync_token: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Company:
    pid: str
    realm: str
    token: str
    invoices: list[Invoice]
    http: httpx.AsyncClient  # the bookkeeper's own: a few connections, not a shared pool's 64
    batch_url: httpx.URL  # absolute, query included: nothing for httpx to merge or parse per request
    turn: itertools.cycle = field(init=False)
    auth: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.turn = itertools.cycle(self.invoices)
        self.auth = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


@dataclass
class Sender:
    """Plays Intuit: makes the bookkeepers' changes, then delivers their events in one signed POST."""

    api_url: str
    verifier: str
    visibility: Visibility
    webhook_url: httpx.URL = field(init=False)
    # Intuit's side: as many connections as deliveries in flight (waiting for a pool's connection would
    # count the generator's own queue as the service's latency), spread over a few clients.
    intuit: list[httpx.AsyncClient] = field(init=False)
    turn: itertools.count = field(default_factory=itertools.count)
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    posted_at: list[float] = field(default_factory=list)
    ack_seconds: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    events_sent: int = 0
    received: int = 0
    new: int = 0

    def __post_init__(self) -> None:
        self.webhook_url = httpx.URL(f"{self.api_url}/webhooks/qbo")
        self.intuit = [httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=None,
                                                                         max_keepalive_connections=50))
                       for _ in range(INTUIT_POOLS)]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.intuit))

    async def changes(self, company: Company, count: int) -> list[tuple[Change, Event]]:
        """`count` invoices of one company edited in one QBO batch request (qbo-reference §7.6): half the
        requests of one edit each, so generating the load takes less of the cores the service runs on."""
        invoices = [next(company.turn) for _ in range(count)]  # distinct: count ≤ the company's invoices
        async with contextlib.AsyncExitStack() as held:
            # One write at a time per invoice (each needs the SyncToken before it), the locks always taken in
            # the same order, so two deliveries that wrapped round the company's invoices can't deadlock.
            for invoice in sorted(invoices, key=lambda i: i.platform_id):
                await held.enter_async_context(invoice.lock)
            seqs = [next(self.seq) for _ in invoices]
            items = [{"bId": str(n), "operation": "update", "Invoice": {
                "Id": inv.qbo_id, "SyncToken": inv.sync_token, "sparse": True, "DocNumber": f"L{seq}"}}
                for n, (inv, seq) in enumerate(zip(invoices, seqs, strict=True))]
            resp = await company.http.post(company.batch_url, headers=company.auth,
                                       content=msgspec.json.encode({"BatchItemRequest": items}))
            resp.raise_for_status()
            answers = {a.bId: a for a in BATCH_ANSWER.decode(resp.content).BatchItemResponse}
            for n, invoice in enumerate(invoices):
                answer = answers[str(n)]
                if answer.Invoice is None:
                    raise RuntimeError(f"QBO refused a bookkeeper's edit: {bytes(answer.Fault or b'')!r}")
                invoice.sync_token = answer.Invoice.SyncToken
        ms = int(time.time() * 1000)
        return [(Change(seq, company.pid, inv.platform_id), Event(company.realm, "Invoice", inv.qbo_id, "Update", ms))
                for inv, seq in zip(invoices, seqs, strict=True)]

    async def deliver(self, companies: list[Company], per_realm: int) -> None:
        made = [pair for batch in await asyncio.gather(*(self.changes(c, per_realm) for c in companies))
                for pair in batch]
        body = cloudevents_body([QueuedEvent(event) for _, event in made])
        headers = {"content-type": "application/cloudevents+json", "intuit-signature": sign(self.verifier, body)}
        changes = [change for change, _ in made]
        t0 = time.perf_counter()
        for change in changes:
            change.t0 = t0
        self.visibility.expect(changes)
        self.posted_at.append(t0)
        self.events_sent += len(changes)
        try:
            resp = await self.intuit[next(self.turn) % INTUIT_POOLS].post(self.webhook_url, content=body,
                                                                          headers=headers)
        except httpx.HTTPError as exc:
            self.failed.append(type(exc).__name__)
            return
        self.ack_seconds.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            self.failed.append(str(resp.status_code))
            return
        ack = resp.json()
        self.received += ack["received"]
        self.new += ack["new"]


def verifier_token(bench: Bench) -> str:
    """The API's verifier token: from the environment, else the stack's generated dev secrets."""
    token = bench.stack.env.get("QBO_WEBHOOK_VERIFIER_TOKEN")
    if token:
        return token
    return json.loads((Path(bench.stack.config.data_dir) / "dev-secrets.json").read_text())["QBO_WEBHOOK_VERIFIER_TOKEN"]


async def onboard(bench: Bench, qbo: httpx.AsyncClient, partners: int) -> list[Company]:
    """Companies connected through the real OAuth flow, several at a time, all onboarded before the load."""
    realms = dict(await bench.connect_many(partners, invoices=INVOICES, prefix="Load", in_flight=CONNECT_IN_FLIGHT))
    pids = list(realms)
    await wait_for(lambda: bench.all_active(pids), within=max(120, partners * 3), what="partners active", every=0.25)
    gate = asyncio.Semaphore(CONNECT_IN_FLIGHT)

    async def one(pid: str) -> Company:
        async with gate:
            realm = realms[pid]
            token = await bench.bookkeeper_token(realm)
            query = await qbo.get(f"/v3/company/{realm}/query", headers={"Authorization": f"Bearer {token}"},
                                  params={**QBO_PARAMS, "query": "select * from Invoice"})
            query.raise_for_status()
            tokens = {i["Id"]: i["SyncToken"] for i in query.json()["QueryResponse"]["Invoice"]}

            async def backfilled() -> list[dict]:
                rows = [r for r in await list_all(bench.api, f"/partners/{pid}/invoices") if r["qbo_id"] in tokens]
                return rows if len(rows) == len(tokens) else []

            rows = await wait_for(backfilled, within=120, what=f"partner {pid}'s invoices", every=0.2)
        batch_url = qbo.base_url.join(f"/v3/company/{realm}/batch").copy_merge_params(QBO_PARAMS)
        return Company(pid, realm, token, [Invoice(r["id"], r["qbo_id"], tokens[r["qbo_id"]]) for r in rows],
                       httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=4)), batch_url)

    return list(await asyncio.gather(*(one(pid) for pid in pids)))


async def drive(load: Load, companies: list[Company], sender: Sender) -> None:
    """Deliveries on a fixed schedule, each to the next `realms_per_delivery` companies in turn."""
    per_realm = max(1, load.events_per_delivery // load.realms_per_delivery)
    turn = itertools.cycle(companies)
    total = int(load.deliveries_per_second * load.seconds)
    tasks = []
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / load.deliveries_per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        picks = [next(turn) for _ in range(load.realms_per_delivery)]
        tasks.append(asyncio.create_task(sender.deliver(picks, per_realm)))
    await asyncio.gather(*tasks)


async def signal_counts(api: httpx.AsyncClient) -> dict[str, Any]:
    """How many `sync_now` signals routing sent, and for how many partners' events an outstanding one was
    enough (api/webhooks.py coalesces them): each signal sent is a workflow task for the Temporal server."""
    from prometheus_client.parser import text_string_to_metric_families

    resp = await api.get("/metrics")
    resp.raise_for_status()
    return {"sync_now_signals": {s.labels["outcome"]: int(s.value) for f in text_string_to_metric_families(resp.text)
                                 if f.name == "qbo_webhook_signals" for s in f.samples if s.name.endswith("_total")}}


async def stored_events(db: asyncpg.Pool, companies: list[Company]) -> dict[str, int]:
    """This run's events only (the smoke test runs other webhook benchmarks on the same stack)."""
    rows = await db.fetch("SELECT coalesce(route_result, 'unrouted') AS result, count(*) AS n "
                          "FROM webhook_events WHERE realm_id = ANY($1::text[]) GROUP BY 1", [c.realm for c in companies])
    return {r["result"]: r["n"] for r in rows}


async def run(size: str) -> dict:
    load = SIZES[size]
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": "3600"}) as bench:
        db = await asyncpg.create_pool(bench.stack.database_url, min_size=1, max_size=2)
        qbo = httpx.AsyncClient(base_url=bench.stack.emulator_url, timeout=30,
                                limits=httpx.Limits(max_connections=64))
        companies: list[Company] = []
        visibility: Visibility | None = None
        sender: Sender | None = None
        try:
            companies = await onboard(bench, qbo, load.partners)
            visibility = Visibility(db, bench.stack.api_url, tuple(c.pid for c in companies))
            sender = Sender(bench.stack.api_url, verifier_token(bench), visibility)
            stop = asyncio.Event()
            watcher = asyncio.create_task(visibility.watch(stop))
            cpu, machine, store = StackCpu(bench.stack), MachineCpu(), LogLines(temporal_log(bench.stack))
            load_started = datetime.now(UTC)
            await drive(load, companies, sender)
            last_post = time.perf_counter()
            stop.set()
            await wait_for(lambda: settled(visibility, last_post), within=SETTLE + 5, what="changes visible")
            watcher.cancel()
            cpu_percent, cpu_seconds, machine_percent = cpu.read(), cpu.seconds(), machine.read()
            stored = await stored_events(db, companies)
            store_timeouts = store.read()
            cycles = await cycle_shape(bench, [c.pid for c in companies], load_started)
            signals = await signal_counts(bench.api)
        finally:
            await asyncio.gather(qbo.aclose(), *(c.http.aclose() for c in companies),
                                 *([visibility.aclose()] if visibility else []), *([sender.aclose()] if sender else []))
            await db.close()
    assert sender is not None and visibility is not None
    return write_result(NAME, size, summary(load, sender, visibility, stored, cpu_percent, machine_percent)
                        | capacity(cpu_seconds, len(sender.posted_at), cycles["cycles"], load)
                        | {"temporal_store_timeouts": store_timeouts}
                        | cycles | signals)


async def cycle_shape(bench: Bench, pids: list[str], since: datetime) -> dict:
    """History events and activities per cycle during the load, over every partner's workflow: the Temporal
    server's work is per event and per task, so these say how much of its CPU a webhook's cycle costs."""
    events = cycles = activities = activity_tasks = 0
    for pid in pids:
        history = await bench.history(pid)
        start = next((i for i, e in enumerate(history) if _is_fetch(e) and e.event_time.ToDatetime(tzinfo=UTC) >= since),
                     None)
        window = history[start:] if start is not None else []
        cycles += sum(1 for e in window if _is_fetch(e))
        activities += sum(1 for e in window if activity_type(e) is not None)
        activity_tasks += sum(1 for e in window if event_name(e) == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
        events += len(window)
    return {"cycles": cycles,
            "history_events_per_cycle": round(events / cycles, 2) if cycles else None,
            "activities_per_cycle": round(activities / cycles, 2) if cycles else None,
            # local activities (the CDC fetch) are no task for the server
            "activity_tasks_per_cycle": round(activity_tasks / cycles, 2) if cycles else None}


def _is_fetch(event: Any) -> bool:
    return activity_type(event) == "fetch_changes"


async def settled(visibility: Visibility, last_post: float) -> bool:
    return not visibility.waiting or time.perf_counter() - last_post > SETTLE


SERVICE = ("worker", "api", "postgres", "temporal")


def capacity(cpu_seconds: dict[str, float], deliveries: int, cycles: int, load: Load) -> dict:
    """The work per delivery, and what it means on this machine's cores: a projection that a machine shared
    with other users distorts far less than it distorts latencies (contention, not extra work). Two
    figures: the service's own processes, and the service without the Temporal dev server (which a
    production deployment runs elsewhere). The load generator and the emulator (QBO's side: mostly the
    bookkeepers' edits) are left out of both; with them on the same cores, they compete for the same CPU."""
    per_delivery = per_unit_ms(cpu_seconds, deliveries)
    service_ms = sum(v for k, v in per_delivery.items() if k in SERVICE)
    # The latency target's price: a partner notified every second or so can't wait to share a later cycle
    # with the next notification, so p99 <= 500 ms takes about one cycle per partner notification.
    per_cycle = per_unit_ms(cpu_seconds, cycles)
    cycle_ms = sum(v for k, v in per_cycle.items() if k in SERVICE)
    notifications = load.deliveries_per_second * load.realms_per_delivery
    without_temporal_ms = service_ms - per_delivery.get("temporal", 0.0)
    cores = os.cpu_count() or 1

    def rate(ms: float) -> float | None:
        return round(1000 * cores / ms, 1) if ms else None

    return {
        "cpu_ms_per_delivery": per_delivery,
        "projected_max_deliveries_per_second": rate(service_ms),
        "projected_max_deliveries_per_second_temporal_elsewhere": rate(without_temporal_ms),
        "cpu_ms_per_cycle": per_cycle,
        "cores_for_a_cycle_per_notification": round(notifications * cycle_ms / 1000, 1) if cycle_ms else None,
        "projection_note": (
            f"{cores} cores / the CPU per delivery of worker + API + PostgreSQL + Temporal dev server (then "
            f"without the dev server), each delivery {load.events_per_delivery} events of "
            f"{load.realms_per_delivery} companies: the rate that saturates the cores with the service alone; "
            "latency targets need headroom below it. The load generator ('bench') and the emulator (QBO's "
            "side) are excluded; on the same cores they take their share too. cores_for_a_cycle_per_notification: "
            "the service's CPU per cycle (cpu_ms_per_cycle, same processes) times the target's partner "
            "notifications a second (deliveries x realms_per_delivery): the cores a p99 of 500 ms needs, since a "
            "partner notified about every second cannot wait for its changes to share a later cycle."),
    }


def summary(load: Load, sender: Sender, visibility: Visibility, stored: dict[str, int],
            cpu: dict[str, float], machine: float) -> dict:
    ms = [c.visible_after * 1000 for c in visibility.done if c.visible_after is not None]
    acks = [s * 1000 for s in sender.ack_seconds]
    span = sender.posted_at[-1] - sender.posted_at[0] if len(sender.posted_at) > 1 else 0.0
    lost = sum(len(v) for v in visibility.waiting.values())
    return {
        "partners": load.partners,
        "deliveries": len(sender.posted_at),
        "events": sender.events_sent,
        "events_per_delivery": load.events_per_delivery,
        "realms_per_delivery": load.realms_per_delivery,
        "target_deliveries_per_second": load.deliveries_per_second,
        "deliveries_per_second": round((len(sender.posted_at) - 1) / span, 1) if span else None,
        "p50_ms": round(percentile(ms, 50)),
        "p99_ms": round(percentile(ms, 99)),
        "max_ms": round(max(ms)) if ms else None,
        "ack_p50_ms": round(percentile(acks, 50)),
        "ack_p99_ms": round(percentile(acks, 99)),
        "ack_max_ms": round(max(acks)) if acks else None,
        "acks_over_3s": sum(1 for a in sender.ack_seconds if a > ACK_LIMIT),
        "failed_deliveries": len(sender.failed),
        "failures": sorted(set(sender.failed)),
        "events_acknowledged": sender.received,
        "events_new": sender.new,
        "events_stored": sum(stored.values()),
        "events_by_route_result": stored,
        "changes_visible": len(ms),
        "changes_lost": lost,
        "settle_seconds": SETTLE,
        "cpu_percent": cpu,
        "limiting_process": limiting_process(cpu),
        "machine_cpu_percent": machine,
        "other_load_cpu_percent": round(max(0.0, machine - cpu["total"]), 1),
        "notes": (
            "Open-loop deliveries at the target rate, each holding events_per_delivery events of "
            "realms_per_delivery companies; latency from just before a delivery's POST to the answer of the "
            f"first GET /partners/{{pid}}/invoices showing the change (PostgreSQL, asked every {DB_POLL * 1000:.0f} ms "
            "which invoice rows changed, says when to ask), so an upper bound by one API request. cpu_percent: % of one core per "
            "process tree over the load (from the first delivery until every change was visible); "
            "other_load_cpu_percent is the machine's busy time not spent by this stack (other users)."
        ),
    }
