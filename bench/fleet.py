"""Fleet: how many partners one worker process keeps on schedule.

One worker process (the real `worker.py`), SYNC_INTERVAL_SECONDS = the interval, tiny emulator companies
(2 customers, 3 invoices: the cost measured is the per-cycle overhead, not data) seeded 10 minutes in the
past (a fresh company's accounts would come back in every CDC answer for 5 minutes: CDC's overlap).
Partners are added in steps, each connected through the API's real OAuth flow (16 at a time: partner, connect, consent at the
emulator, callback, workflow start) and onboarded by the real workflow and activities; once all are
active, a measurement window of one interval plus 5 s follows. Then every partner's workflow history is read:

- due time of a cycle = the sleep timer's TIMER_STARTED time + the interval;
- start of that cycle = the ACTIVITY_TASK_STARTED time of the `fetch_changes` scheduled after that timer
  fired, or, for the local activity it is since patch `cycle-fetch-local`, the time the worker scheduled
  it (`original_schedule_time` in its marker) (a timer still unfired, or a fetch not yet started, at read time counts with the read time, so
  lateness is never hidden); only cycles due inside the window count.

A step passes when the p99 of (start − due) ≤ 5 s. The ramp stops at the first failing step, or when the
next step would not fit the time budget; `partners` is the largest passing step. CPU is user+system time
over the window (percent of one core) of every process of the stack (`bench/processes.py`), so the step
names its busiest process; RSS is the worker's at the end of the window. Each step also reports how late
the server fired the timers (TIMER_FIRED − due), the part of the delay that is not the worker's. The
worker's capacity settings (WORKER_* in settings.py) are taken from the environment and recorded.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import (
    WorkerSampler,
    event_name,
    local_activity,
    local_activity_started,
    percentile,
    running_stack,
    wait_for,
    write_result,
)
from bench.idle_cycle import is_fetch
from bench.processes import LogLines, MachineCpu, StackCpu, limiting_process, per_unit_ms, temporal_log

NAME = "fleet"
# (interval seconds, partner steps, time budget seconds for the whole benchmark)
SIZES = {"small": (10, (10, 25, 50, 100), 300), "full": (60, (250, 500, 1000, 1500, 2000, 2500, 3000, 4000), 1800)}
P99_LIMIT = 5.0
WINDOW_SLACK = 5  # seconds added to the interval for each measurement window
CONNECT_IN_FLIGHT = 16
HISTORY_READS_IN_FLIGHT = 16


def start_delays(
    events,
    interval: float,
    since: datetime,
    until: datetime,
    read_at: datetime,
    fired: list[float] | None = None,
    dues: list[datetime] | None = None,
) -> list[float]:
    """Seconds from each cycle's due time to its fetch activity's start, for cycles due in [since, until];
    `fired` collects how late the server fired each of those timers (the server's share of the delay),
    `dues` each counted cycle's due time (in the order of the delays)."""
    delays = []
    timers: dict[str, datetime] = {}  # timer id → due
    fired_due: datetime | None = None
    waiting_fetch = False
    for e in events:
        name = event_name(e)
        at = e.event_time.ToDatetime(tzinfo=UTC)
        if name == "EVENT_TYPE_TIMER_STARTED":
            attrs = e.timer_started_event_attributes
            if abs(attrs.start_to_fire_timeout.ToTimedelta().total_seconds() - interval) < 0.5:
                timers[attrs.timer_id] = at + timedelta(seconds=interval)
        elif name == "EVENT_TYPE_TIMER_FIRED":
            fired_due = timers.pop(e.timer_fired_event_attributes.timer_id, None)
            if fired is not None and fired_due is not None and since <= fired_due <= until:
                fired.append((at - fired_due).total_seconds())
        elif name == "EVENT_TYPE_TIMER_CANCELED":
            timers.pop(e.timer_canceled_event_attributes.timer_id, None)
        elif is_fetch(e) and fired_due is not None and (local := local_activity(e)) is not None:
            started = local_activity_started(local)  # a local activity: its marker says when it began
            if since <= fired_due <= until:
                delays.append((started - fired_due).total_seconds())
                if dues is not None:
                    dues.append(fired_due)
            fired_due = None
        elif is_fetch(e) and fired_due is not None:
            waiting_fetch = True
        elif name == "EVENT_TYPE_ACTIVITY_TASK_STARTED" and waiting_fetch and fired_due is not None:
            if since <= fired_due <= until:
                delays.append((at - fired_due).total_seconds())
                if dues is not None:
                    dues.append(fired_due)
            fired_due, waiting_fetch = None, False
    for due in [*timers.values(), *([fired_due] if fired_due is not None else [])]:
        if since <= due <= until and read_at > due:  # still waiting at read time: late at least this much
            delays.append((read_at - due).total_seconds())
            if dues is not None:
                dues.append(due)
    return delays


def worker_settings(env: dict[str, str]) -> dict:
    """The worker's capacity settings this run used (README "Fleet size per worker"): env, else defaults."""
    from settings import Settings

    return {name: int(env[name.upper()]) if env.get(name.upper()) else field.default
            for name, field in Settings.model_fields.items() if name.startswith("worker_") and not name.endswith("_port")}


async def measure_step(bench, pids: list[str], interval: int, sampler: WorkerSampler) -> dict:
    """One window of `interval` + WINDOW_SLACK with every partner active: start delays, every process's CPU."""
    window = interval + WINDOW_SLACK
    cpu, machine, store = StackCpu(bench.stack), MachineCpu(), LogLines(temporal_log(bench.stack))
    since = datetime.now(UTC)
    sampler.mark()
    await asyncio.sleep(window)
    until = datetime.now(UTC)
    worker_cpu, by_process, used, machine_cpu = sampler.cpu_percent(), cpu.read(), cpu.seconds(), machine.read()
    read_at = datetime.now(UTC)
    delays: list[float] = []
    fired: list[float] = []
    gate = asyncio.Semaphore(HISTORY_READS_IN_FLIGHT)  # thousands of histories: read side by side, after the window

    async def read(pid: str) -> list:
        async with gate:
            return await bench.history(pid)

    worst: list[tuple[float, float, str]] = []  # (delay, due seconds into the window, partner)
    for pid, events in zip(pids, await asyncio.gather(*(read(pid) for pid in pids)), strict=True):
        dues: list[datetime] = []
        mine = start_delays(events, interval, since, until, read_at, fired, dues)
        delays += mine
        worst += [(d, (due - since).total_seconds(), pid) for d, due in zip(mine, dues, strict=True)]
    return {
        "partners": len(pids),
        "cycles_measured": len(delays),
        "p50_start_delay_seconds": round(percentile(delays, 50), 3),
        "p99_start_delay_seconds": round(percentile(delays, 99), 3),
        "max_start_delay_seconds": round(max(delays), 3) if delays else None,
        "p99_timer_fired_late_seconds": round(percentile(fired, 99), 3),
        # When the latest cycles were due: together in time is a stall (the machine, a server), spread out a
        # steady shortfall.
        "latest_cycles": [{"delay_seconds": round(d, 3), "due_seconds_into_window": round(at, 1), "partner": pid}
                          for d, at, pid in sorted(worst, reverse=True)[:5]],
        "worker_cpu_percent": round(worker_cpu, 1),
        "worker_rss_mb": round(sampler.last_rss / 2**20, 1),
        "cpu_percent": by_process,
        "busiest_process": limiting_process(by_process),
        "machine_cpu_percent": machine_cpu,
        "other_load_cpu_percent": round(max(0.0, machine_cpu - by_process["total"]), 1),
        "temporal_store_timeouts": store.read(),
        **headroom(used, len(delays), interval),
    }


def headroom(used: dict[str, float], cycles: int, interval: int) -> dict:
    """CPU per cycle per process, and the partners each process could serve at this interval on one core of
    its own (the work, not the waiting: a shared machine slows it down but hardly changes it)."""
    per_cycle = per_unit_ms(used, cycles)
    return {
        "cpu_ms_per_cycle": per_cycle,
        "partners_per_core_at_interval": {
            name: round(interval * 1000 / ms) for name, ms in per_cycle.items() if name not in ("bench", "total") and ms > 0
        },
    }


async def run(size: str) -> dict:
    interval, steps, budget = SIZES[size]
    t_begin = time.monotonic()
    results: list[dict] = []
    pids: list[str] = []
    stopped_by = "the last step"
    async with running_stack(NAME, env={"SYNC_INTERVAL_SECONDS": str(interval)}) as bench:
        sampler = WorkerSampler(bench.worker_pid).start()
        per_partner_onboarding = 0.2  # seconds, a first guess refined by each step
        for target in steps:
            new = target - len(pids)
            estimate = new * per_partner_onboarding + interval + WINDOW_SLACK + 15
            if results and time.monotonic() - t_begin + estimate > budget:
                stopped_by = f"the time budget ({budget}s): step {target} would need ~{estimate:.0f}s more"
                break
            t_add, onboarding_cpu = time.monotonic(), StackCpu(bench.stack)
            onboarding_store = LogLines(temporal_log(bench.stack))
            try:
                added = await bench.connect_many(new, start=len(pids), in_flight=CONNECT_IN_FLIGHT)
                pids = pids + [pid for pid, _ in added]
                await wait_for(lambda current=pids: bench.all_active(current), within=max(120, new * 3),
                               what=f"{target} partners active", every=0.25)
            except (TimeoutError, httpx.HTTPError) as exc:
                stopped_by = (f"onboarding step {target} failed: {exc} (the Temporal dev server logged "
                              f"{onboarding_store.read()} store timeouts meanwhile)")
                break
            per_partner_onboarding = (time.monotonic() - t_add) / new
            onboarding_ms = per_unit_ms(onboarding_cpu.seconds(), new)
            step = await measure_step(bench, pids, interval, sampler)
            step["onboarding_seconds"] = round(per_partner_onboarding * new, 1)
            step["onboarded_per_second"] = round(1 / per_partner_onboarding, 1)
            step["onboarding_cpu_ms_per_partner"] = onboarding_ms
            step["onboarding_temporal_store_timeouts"] = onboarding_store.read()
            results.append(step)
            print(f"# fleet step {step}", flush=True)
            if not step["cycles_measured"] or step["p99_start_delay_seconds"] > P99_LIMIT:
                stopped_by = f"step {target} missing the {P99_LIMIT:.0f}s p99"
                break
        sampler.stop()
        settings_used = worker_settings(bench.stack.env)
    return write_result(NAME, size, summary(interval, results, stopped_by, settings_used))


def summary(interval: int, results: list[dict], stopped_by: str, settings_used: dict) -> dict:
    passing = [s for s in results if s["cycles_measured"] and s["p99_start_delay_seconds"] <= P99_LIMIT]
    best = passing[-1] if passing else results[-1] if results else {}
    return {
        "partners": best["partners"] if passing else 0,
        "interval_seconds": interval,
        "p99_start_delay_seconds": best.get("p99_start_delay_seconds"),
        "worker_cpu_percent": best.get("worker_cpu_percent"),
        "worker_rss_mb": best.get("worker_rss_mb"),
        "cpu_percent": best.get("cpu_percent"),
        "limiting_process": results[-1]["busiest_process"] if results else None,
        "ramp_stopped_by": stopped_by,
        "worker_settings": settings_used,
        "steps": results,
        "notes": (
            "Start delay = fetch_changes ACTIVITY_TASK_STARTED (a local activity: the original_schedule_time its "
            "marker records) − (sleep TIMER_STARTED + interval), from each "
            "workflow's history, cycles due in a window of one interval + 5 s after all partners are active. "
            "One worker process; partners connected through the real OAuth flow, "
            f"{CONNECT_IN_FLIGHT} at a time. cpu_percent: % of one core per process tree over each window "
            "(PostgreSQL with its backends; 'bench' is this load generator reading histories); "
            "limiting_process is the busiest process at the last step measured; other_load_cpu_percent is "
            "the machine's busy time spent outside this stack (other users). The dev server, PostgreSQL, the "
            "emulator and the API share the worker's cores, so 'partners' is a lower bound for a dedicated "
            "worker; see ramp_stopped_by for what ended the ramp."
        ),
    }
