"""What every benchmark shares: a real stack on free ports, an emulator company, a partner connected through
the API's OAuth flow, QBO call counts, workflow histories, worker sampling and the result file.

Each benchmark starts its own `LocalStack` (Temporal dev server, embedded PostgreSQL, the emulator in
memory, one real worker process, the API) in a temporary folder, so one benchmark's load never leaks
into the next one's figures.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devstack.stack import LocalStack, StackConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
log = logging.getLogger("bench")

SIZES = ("small", "full")


def commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_result(name: str, size: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Print the benchmark's one JSON object and write it to bench/results/<name>.json (<name>_huge.json)."""
    result = {"name": name, "commit": commit(), "cores": os.cpu_count(), "size": size, **fields}
    if os.environ.get("BENCH_NOTE"):  # what the figures can't say themselves (a shared machine, a reduced size)
        result["run_note"] = os.environ["BENCH_NOTE"]
    folder = Path(os.environ.get("BENCH_RESULTS", RESULTS))  # the smoke test writes elsewhere
    folder.mkdir(parents=True, exist_ok=True)
    file = name if size in SIZES else f"{name}_{size}"  # a huge run does not replace the full one
    (folder / f"{file}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)
    return result


def pages_min(*counts: int, page: int = 1000) -> int:
    """Σ⌈n/1000⌉: the fewest query pages that can return these entity counts."""
    return sum(math.ceil(n / page) for n in counts)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


async def wait_for(
    check: Callable[[], Awaitable[Any]], *, within: float, what: str, every: float = 0.2
) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {within:.0f}s")
        await asyncio.sleep(every)


class WorkerSampler:
    """RSS and CPU of one process, sampled in a thread (the worker is a separate process)."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.proc = psutil.Process(pid)
        self.every = every
        self.peak_rss = 0
        self.last_rss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self._cpu0 = 0.0
        self._t0 = 0.0

    def _sample(self) -> None:
        try:
            self.last_rss = self.proc.memory_info().rss
        except psutil.Error:
            return
        self.peak_rss = max(self.peak_rss, self.last_rss)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _cpu(self) -> float:
        t = self.proc.cpu_times()
        return t.user + t.system

    def start(self) -> WorkerSampler:
        self._sample()
        self.mark()
        self._thread.start()
        return self

    def mark(self) -> None:
        """Start a CPU measurement window."""
        self._cpu0, self._t0 = self._cpu(), time.monotonic()

    def cpu_percent(self) -> float:
        """CPU since `mark()`, in percent of one core."""
        return 100 * (self._cpu() - self._cpu0) / max(time.monotonic() - self._t0, 1e-9)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sample()


async def list_all(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list of the API (PRODUCT.md §6), 1,000 per request."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        resp = await api.get(path, params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})})
        resp.raise_for_status()
        body = resp.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items


async def oauth_attempt(api: httpx.AsyncClient, pid: str, realm: str) -> httpx.Response:
    """What a user does: the API's authorize URL, consent at the emulator choosing `realm` (auto-approved
    with `realmId`), then the callback on the API; returns the callback's answer. `api` plays the partner's
    browser too: the cookie `connect` sets goes back with the callback (the flow is bound to one browser).
    (`params=` would drop the URL's own query: httpx 0.28.)"""
    resp = await api.post(f"/partners/{pid}/qbo/connect")
    resp.raise_for_status()
    url = resp.json()["authorize_url"]
    async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
        consent = await browser.get(f"{url}&realmId={realm}")
    if consent.status_code != 302:
        raise RuntimeError(f"consent at the emulator answered {consent.status_code}: {consent.text[:200]}")
    callback = urlsplit(consent.headers["location"])
    return await api.get(f"{callback.path}?{callback.query}")


async def oauth_connect(api: httpx.AsyncClient, pid: str, realm: str) -> None:
    """Connect a partner as a user does (`oauth_attempt`) and insist it worked."""
    done = await oauth_attempt(api, pid, realm)
    if done.status_code != 200:
        raise RuntimeError(f"the OAuth callback answered {done.status_code}: {done.text[:200]}")


SEEDED_AGO = 600  # seconds: benchmark companies are seeded 10 minutes in the past (`Bench.connect_many`)


class Bench:
    """A running stack plus the clients a benchmark needs."""

    def __init__(self, stack: LocalStack, temporal: Client) -> None:
        self.stack = stack
        self.temporal = temporal
        self.api = httpx.AsyncClient(base_url=stack.api_url, timeout=60)
        self.emu = httpx.AsyncClient(base_url=stack.emulator_url, timeout=600)

    async def aclose(self) -> None:
        await self.api.aclose()
        await self.emu.aclose()

    @property
    def worker_pid(self) -> int:
        pid = self.stack.workers[0].pid
        assert pid is not None
        return pid

    # --- the emulator ------------------------------------------------------------------------------

    async def company(
        self,
        *,
        customers: int,
        invoices: int,
        payments: int = 0,
        name: str = "Bench Co",
        seed: int = 42,
        throttle: bool = False,
    ) -> str:
        """A seeded emulator company; QBO's per-minute throttle off unless asked (our own limiter stays)."""
        resp = await self.emu.post(
            "/_emulator/companies",
            json={
                "name": name,
                "seed": {
                    "customers": customers,
                    "invoices": invoices,
                    "payments": payments,
                    "random_seed": seed,
                },
            },
        )
        resp.raise_for_status()
        realm = resp.json()["realm_id"]
        if not throttle:
            (
                await self.emu.put("/_emulator/config", json={"realm_id": realm, "throttle_enabled": False})
            ).raise_for_status()
        return realm

    async def qbo_calls(self, realm: str) -> dict[str, Any]:
        resp = await self.emu.get("/_emulator/requests", params={"realm_id": realm})
        resp.raise_for_status()
        return resp.json()

    async def reset_calls(self, realm: str) -> None:
        (await self.emu.post("/_emulator/requests/reset", params={"realm_id": realm})).raise_for_status()

    async def bookkeeper_token(self, realm: str) -> str:
        resp = await self.emu.post(f"/_emulator/companies/{realm}/tokens")
        resp.raise_for_status()
        return resp.json()["access_token"]

    async def webhooks_to_api(self) -> None:
        resp = await self.emu.put(
            "/_emulator/webhooks", json={"url": f"{self.stack.api_url}/webhooks/qbo", "format": "cloudevents"}
        )
        resp.raise_for_status()

    # --- partners through the API --------------------------------------------------------------------

    async def connect(self, realm: str, name: str = "bench partner") -> str:
        """Create a partner and connect it like a user: consent at the emulator, land on the callback."""
        resp = await self.api.post("/partners", json={"name": name})
        resp.raise_for_status()
        pid = resp.json()["id"]
        await oauth_connect(self.api, pid, realm)
        return pid

    async def connect_many(self, count: int, *, start: int = 0, customers: int = 2, invoices: int = 3,
                           prefix: str = "Fleet", in_flight: int = 8, backdate: float = SEEDED_AGO
                           ) -> list[tuple[str, str]]:
        """`count` partners, each on its own new company, connected through the real OAuth flow, `in_flight`
        at a time (each connect is a handful of API and emulator requests and one workflow start); returns
        (partner id, realm id) pairs. `backdate`: seconds into the past the companies are seeded (the
        emulator's clock is set back while seeding). A real partner's chart of accounts is not minutes old,
        and CDC reads 5 minutes back (activities/sync.py CDC_OVERLAP): a company seeded just now returns
        every account, customer and invoice in each cycle for 5 minutes, which is neither an idle cycle
        (the fleet) nor a webhook's (the webhook load)."""
        gate = asyncio.Semaphore(in_flight)

        async def seeded(n: int) -> str:
            async with gate:
                return await self.company(customers=customers, invoices=invoices, name=f"{prefix} {n}", seed=n)

        async def connected(n: int, realm: str) -> tuple[str, str]:
            async with gate:
                return await self.connect(realm, name=f"{prefix.lower()} {n}"), realm

        numbers = range(start, start + count)
        await self.set_clock_offset(-backdate)
        try:
            realms = await asyncio.gather(*(seeded(n) for n in numbers))
        finally:
            await self.set_clock_offset(0)
        return list(await asyncio.gather(*(connected(n, realm) for n, realm in zip(numbers, realms, strict=True))))

    async def set_clock_offset(self, seconds: float) -> None:
        """The emulator's clock, `seconds` from the real one (admin config `clock_offset_seconds`)."""
        (await self.emu.put("/_emulator/config", json={"clock_offset_seconds": seconds})).raise_for_status()

    async def all_active(self, pids: list[str]) -> bool:
        """Every one of `pids` onboarded (one list request, whatever the fleet's size)."""
        states = {p["id"]: p["qbo_state"] for p in (await self.api.get("/partners")).json()}
        return all(states.get(pid) == "active" for pid in pids)

    async def status(self, pid: str) -> dict[str, Any]:
        resp = await self.api.get(f"/partners/{pid}/qbo")
        resp.raise_for_status()
        return resp.json()

    async def wait_active(self, pid: str, within: float = 300) -> dict[str, Any]:
        """Onboarded and one cycle done (the state turns active before the first cycle records a sync)."""

        async def ready() -> dict | None:
            body = await self.status(pid)
            return body if body["state"] == "active" and body["last_synced_at"] else None

        return await wait_for(ready, within=within, what=f"partner {pid} to become active", every=0.3)

    # --- Temporal ------------------------------------------------------------------------------------

    async def history(self, pid: str) -> list[Any]:
        """Every event of every run of the partner's workflow, oldest run first (continue-as-new included)."""
        runs = [w async for w in self.temporal.list_workflows(f"WorkflowId = 'qbo-partner-{pid}'")]
        runs.sort(key=lambda w: w.start_time)
        events: list[Any] = []
        for run in runs:
            handle = self.temporal.get_workflow_handle(run.id, run_id=run.run_id)
            events += [e async for e in handle.fetch_history_events()]
        return events


def event_name(event: Any) -> str:
    return EventType.Name(event.event_type)


def local_activity(event: Any) -> dict[str, Any] | None:
    """What the marker of a local activity records (its type, attempt, `original_schedule_time`, when it
    completed), None for any other event. The cycle's CDC fetch is one since patch `cycle-fetch-local`."""
    if not event.HasField("marker_recorded_event_attributes"):
        return None
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != "core_local_activity":
        return None
    return dict(json.loads(marker.details["data"].payloads[0].data))


def local_activity_started(data: dict[str, Any]) -> datetime:
    """When the worker first scheduled a local activity (its first attempt began then): the counterpart
    of a regular activity's ACTIVITY_TASK_STARTED, which a local activity has no event for."""
    at = data["original_schedule_time"]
    return datetime.fromtimestamp(at["seconds"] + at.get("nanos", 0) / 1e9, tz=UTC)


def activity_type(event: Any) -> str | None:
    """The activity an event starts: a regular activity's ActivityTaskScheduled, or the marker a local
    activity leaves when it ends. None for any other event."""
    if event.HasField("activity_task_scheduled_event_attributes"):
        return str(event.activity_task_scheduled_event_attributes.activity_type.name)
    data = local_activity(event)
    return None if data is None else str(data["activity_type"])


def activity_seconds(events: list[Any]) -> dict[str, float]:
    """Seconds spent running each activity type (started → completed/failed), summed over the history."""
    names: dict[int, str] = {}
    started: dict[int, Any] = {}
    totals: dict[str, float] = {}
    for e in events:
        kind = event_name(e)
        if kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            names[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        elif kind == "EVENT_TYPE_ACTIVITY_TASK_STARTED":
            started[e.activity_task_started_event_attributes.scheduled_event_id] = e.event_time.ToDatetime()
        elif kind in ("EVENT_TYPE_ACTIVITY_TASK_COMPLETED", "EVENT_TYPE_ACTIVITY_TASK_FAILED"):
            attrs = (
                e.activity_task_completed_event_attributes
                if kind.endswith("COMPLETED")
                else e.activity_task_failed_event_attributes
            )
            begun = started.get(attrs.scheduled_event_id)
            if begun is not None:
                name = names.get(attrs.scheduled_event_id, "?")
                totals[name] = totals.get(name, 0.0) + (e.event_time.ToDatetime() - begun).total_seconds()
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


_SHARED: ContextVar[Bench | None] = ContextVar("bench_shared_stack", default=None)


@asynccontextmanager
async def shared_stack(env: dict[str, str] | None = None):
    """One stack for several benchmarks in a row (`tests/test_bench_smoke.py`: a stack costs more than a
    tiny benchmark); inside it, `running_stack` yields this one whatever its arguments."""
    async with running_stack("shared", env) as bench:
        token = _SHARED.set(bench)
        try:
            yield bench
        finally:
            _SHARED.reset(token)


@asynccontextmanager
async def running_stack(name: str, env: dict[str, str] | None = None):
    """A whole stack for one benchmark, in a temporary folder that goes away afterwards."""
    shared = _SHARED.get()
    if shared is not None:
        yield shared
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    base_env = {"LOG_LEVEL": "WARNING", "SYNC_INTERVAL_SECONDS": "3600"}
    config = StackConfig.ephemeral(tmp, workers=1, env={**base_env, **(env or {})})
    stack = LocalStack(config)
    # Inherited settings must not point the children at another stack's database or emulator.
    for var in ("DATABASE_URL", "API_KEY"):
        if var not in (env or {}):
            stack.env.pop(var, None)
    if "QBO_EMULATOR_URL" not in (env or {}):
        stack.env["QBO_EMULATOR_URL"] = f"http://127.0.0.1:{config.emulator_port}"
    await asyncio.to_thread(stack.start)
    temporal = await Client.connect(stack.temporal_address, data_converter=pydantic_data_converter)
    bench = Bench(stack, temporal)
    try:
        yield bench
    finally:
        await bench.aclose()
        await asyncio.to_thread(stack.stop)
        if os.environ.get("BENCH_KEEP") is None:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
        else:
            log.warning("kept %s", tmp)
