"""Where the worker's CPU goes in an idle cycle: a fleet of idle partners on the real stack, measured twice.

    .venv/bin/python -m bench.idle_profile [--partners 40] [--interval 5] [--window 30] [--top 30] [--sort tottime]

1. The stack's own worker (`worker.py`, as the fleet benchmark runs it): CPU per cycle of the worker and of
   every other process of the stack over a window, and the worker's CPU per thread kind (the Python main
   thread: activities, asyncio and the SDK's Python side; the workflow-task threads; the SDK core's Rust
   threads), read from /proc, so the share the Python profiler cannot see is measured too.
2. The same worker again, this time inside this module's `--child` mode: `TEMPORAL_DEBUG=1` runs workflow
   activations inline on the main thread (the sandbox stays on), so one cProfile on that thread sees the
   workflow tasks, the activities and the SDK's Python side. Profiling is switched on by SIGUSR1 after a
   warm-up (every partner's workflow replayed into the new worker's cache and cycling idly) and off by
   SIGUSR2, which writes the stats; they are printed per cycle (the emulator's CDC calls in the window).

A cycle is one CDC call counted by the emulator over the window. A measurement for README's "Fleet size
per worker" and for commit messages, not a test; the machine's other load inflates the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.common import running_stack, wait_for
from bench.processes import StackCpu, per_unit_ms
from devstack.children import Child

_CLK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread kind of one process, from /proc/PID/task (name → utime + stime)."""
    out: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "main (asyncio)" if task.name == str(pid) else comm
        out[kind] += (int(fields[11]) + int(fields[12])) / _CLK
    return out


async def cdc_calls(bench) -> int:  # noqa: ANN001 (bench.common.Bench)
    resp = await bench.emu.get("/_emulator/requests")
    resp.raise_for_status()
    return int(resp.json()["by_operation"].get("cdc", 0))


async def window(bench, seconds: float, pid: int) -> tuple[int, dict[str, float], dict[str, float]]:  # noqa: ANN001
    """(cycles, CPU seconds per process, the worker's CPU seconds per thread kind) over `seconds`."""
    cpu, calls0, threads0 = StackCpu(bench.stack), await cdc_calls(bench), thread_cpu(pid)
    await asyncio.sleep(seconds)
    used, threads1 = cpu.seconds(), thread_cpu(pid)
    cycles = await cdc_calls(bench) - calls0
    return cycles, used, {k: threads1[k] - threads0.get(k, 0.0) for k in threads1}


def swap_worker(bench, argv: list[str], extra_env: dict[str, str]) -> Child:  # noqa: ANN001
    stack = bench.stack
    old = stack.workers[0]
    old.stop()
    stack.children.remove(old)
    child = Child(old.name, argv, env={**(old.env or stack.env), **extra_env}, log_path=old.log_path).start()
    stack.children.append(child)
    stack.workers[0] = child
    return child


async def profile(partners: int, interval: int, seconds: float, top: int, sort: str, age: float,
                  keep: Path | None, cprofile: bool = True) -> None:
    async with running_stack("idle-profile", env={"SYNC_INTERVAL_SECONDS": str(interval)}) as bench:
        pids = [pid for pid, _ in await bench.connect_many(partners, in_flight=8)]
        await wait_for(lambda: bench.all_active(pids), within=60 + partners * 3, what="partners active", every=0.5)
        if age:
            await age_companies(bench, age)
        await asyncio.sleep(2 * interval + 2)  # the first cycle after onboarding is a full sweep
        cycles, used, threads = await window(bench, seconds, bench.worker_pid)
        print(f"# {partners} partners at {interval}s, {seconds:.0f}s window: {cycles} cycles")
        print("# CPU ms per cycle by process:", per_unit_ms(used, cycles))
        print("# worker CPU ms per cycle by thread:",
              {k: round(1000 * v / max(cycles, 1), 2) for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v})
        if not cprofile:
            return

        out = bench.stack.config.data_dir / "worker.prof"
        child = swap_worker(bench, [sys.executable, "-m", "bench.idle_profile", "--child", str(out)],
                            {"TEMPORAL_DEBUG": "1"})
        await asyncio.sleep(3 * interval + 5)  # replays into the new cache, then idle cycles
        assert child.pid is not None
        os.kill(child.pid, signal.SIGUSR1)
        calls0, t0 = await cdc_calls(bench), time.monotonic()
        await asyncio.sleep(seconds)
        os.kill(child.pid, signal.SIGUSR2)
        cycles = await cdc_calls(bench) - calls0
        await wait_for(lambda: _exists(out), within=30, what="the profile file")
        if keep is not None:
            await asyncio.to_thread(keep.write_bytes, await asyncio.to_thread(out.read_bytes))
        stats = pstats.Stats(str(out), stream=(text := io.StringIO()))
        total = stats.total_tt  # type: ignore[attr-defined]
        print(f"# cProfile (main thread, workflows inline): {cycles} cycles in {time.monotonic() - t0:.0f}s, "
              f"{1000 * total / max(cycles, 1):.1f} ms profiled per cycle (profiling inflates it)")
        stats.sort_stats(sort).print_stats(top)
        print(text.getvalue())


async def age_companies(bench, seconds: float) -> None:  # noqa: ANN001
    """Move the emulator's clock `seconds` ahead. A seeded company's chart of accounts carries the seeding
    time, and CDC asks from 5 minutes before the cursor (activities/sync.py CDC_OVERLAP), so for 5 minutes
    after seeding every cycle gets every account back: not an idle cycle. Aged, the window is empty."""
    await bench.set_clock_offset(seconds)


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(lambda: path.exists() and path.stat().st_size > 0)


def child(out: str) -> None:
    """The worker, with a cProfile of its main thread switched on by SIGUSR1 and dumped by SIGUSR2."""
    import worker

    prof = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: prof.enable())

    def dump(*_: object) -> None:
        prof.disable()
        prof.dump_stats(out)

    signal.signal(signal.SIGUSR2, dump)
    worker.main()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_profile", description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=40)
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--window", type=float, default=30)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--age", type=float, default=0,
                        help="seconds to move the emulator's clock ahead once onboarded (600: truly idle cycles)")
    parser.add_argument("--keep", type=Path, help="copy the cProfile stats file here")
    parser.add_argument("--no-cprofile", action="store_true", help="only the first measurement")
    parser.add_argument("--server-flag", action="append", default=[],
                        help="an extra flag for the Temporal dev server (repeatable), to compare settings")
    parser.add_argument("--child", metavar="OUT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.server_flag:
        _extra_server_flags(args.server_flag)
    asyncio.run(profile(args.partners, args.interval, args.window, args.top, args.sort, args.age, args.keep,
                        not args.no_cprofile))


def _extra_server_flags(flags: list[str]) -> None:
    import devstack.stack

    command = devstack.stack.dev_server_command

    def with_flags(*args, **kwargs) -> list[str]:  # noqa: ANN002, ANN003
        argv = [*command(*args, **kwargs), *flags]
        if "--memory" in flags:  # no --db-filename: the dev server's in-memory SQLite
            argv.remove("--memory")
            at = argv.index("--db-filename")
            del argv[at:at + 2]
        return argv

    devstack.stack.dev_server_command = with_flags


if __name__ == "__main__":
    main()
