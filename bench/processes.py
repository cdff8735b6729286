"""CPU of every process of a benchmark's stack, so a result can name the process that was the limit.

Each of the stack's children (Temporal dev server, PostgreSQL, the emulator, the worker, the API) is a
process tree: PostgreSQL forks one backend per connection, and a backend that exits takes its CPU time
with it unless it is counted. So a window's CPU of a child is read from its whole tree: the live
processes' own times plus the times of the children the tree has already reaped (`children_user/system`
of each live process). The benchmark's own process (the load generator) is reported too, as `bench`:
it shares the same cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from devstack.stack import LocalStack


def _tree_cpu(root: psutil.Process) -> float:
    total = 0.0
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue  # exited between listing and reading: its time is in its parent's children_* now
        total += t.user + t.system + t.children_user + t.children_system
    return total


class StackCpu:
    """Percent of one core used by each named process tree between `mark()` and `read()`."""

    def __init__(self, stack: LocalStack) -> None:
        self.procs: dict[str, psutil.Process] = {}
        for child in stack.children:
            if child.pid is not None and child.poll() is None:
                self.procs[child.name] = psutil.Process(child.pid)
        self.me = psutil.Process(os.getpid())  # own time only: its tree is the stack's children
        self._start: dict[str, float] = {}
        self._t0 = 0.0
        self.mark()

    def _now(self) -> dict[str, float]:
        own = self.me.cpu_times()
        return {**{name: _tree_cpu(proc) for name, proc in self.procs.items()}, "bench": own.user + own.system}

    def mark(self) -> None:
        self._start, self._t0 = self._now(), time.monotonic()

    def seconds(self) -> dict[str, float]:
        """{process: CPU seconds} since `mark()`, and `total` (the stack's and the benchmark's together):
        the work done, which a machine shared with other users slows down but does not inflate much."""
        now = self._now()
        out = {name: now[name] - self._start.get(name, now[name]) for name in now}
        out["total"] = sum(out.values())
        return out

    def read(self) -> dict[str, float]:
        """{process: % of one core} since `mark()`, and `total`: the stack's and the benchmark's together."""
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        return {name: round(100 * used / elapsed, 1) for name, used in self.seconds().items()}


def per_unit_ms(seconds: dict[str, float], units: int) -> dict[str, float]:
    """CPU milliseconds per unit of work (a delivery, a cycle), per process."""
    return {name: round(1000 * used / units, 2) for name, used in seconds.items()} if units else {}


class MachineCpu:
    """The whole machine's busy time over a window, in percent of one core (other users' load included)."""

    def __init__(self) -> None:
        self.mark()

    @staticmethod
    def _busy() -> tuple[float, float]:
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        return sum(t) - idle, idle

    def mark(self) -> None:
        self._busy0, self._idle0 = self._busy()

    def read(self) -> float:
        busy, idle = self._busy()
        d_busy, d_idle = busy - self._busy0, idle - self._idle0
        cores = psutil.cpu_count() or 1
        return round(100 * cores * d_busy / max(d_busy + d_idle, 1e-9), 1)


def limiting_process(cpu: dict[str, float]) -> str:
    """The busiest of the stack's processes (not the load generator, not the totals)."""
    candidates = {k: v for k, v in cpu.items() if k not in ("bench", "total")}
    return max(candidates, key=lambda k: candidates[k]) if candidates else "unknown"


STORE_TIMEOUT = "context deadline exceeded"


class LogLines:
    """Lines of a child's log holding a phrase, since `mark()`. The Temporal dev server logs "context deadline
    exceeded" when its SQLite store can't answer in time (a workflow update, a buffered-events select): the
    sign that the server's store, not the worker, is the limit."""

    def __init__(self, path: Path | None, phrase: str = STORE_TIMEOUT) -> None:
        self.path, self.phrase = path, phrase
        self.mark()

    def mark(self) -> None:
        self._offset = self.path.stat().st_size if self.path and self.path.exists() else 0

    def read(self) -> int:
        if not self.path or not self.path.exists():
            return 0
        with self.path.open("rb") as log:
            log.seek(self._offset)
            return sum(1 for line in log if self.phrase.encode() in line)


def temporal_log(stack: LocalStack) -> Path | None:
    return stack.config.log_dir / "temporal.log" if stack.config.log_dir else None
