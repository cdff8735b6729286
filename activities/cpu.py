"""Pure, CPU-bound work (the backfill's decisions) run beside the event loop, in worker processes.

Why: a backfill decides every object of a company with the pure rules (~60–80 µs of Python a row), and on
the worker's one event loop that work is the critical path of the whole backfill: while the loop decides,
it neither reads QBO's next page nor feeds PostgreSQL the previous one (issue 15's profile, README
Performance). Threads would not help (the GIL); a process does, with the rows handed over pickled.

`CpuPool(0)` runs the same functions inline, giving the loop a turn after each call: the tests' in-process
workers and a deployment that wants no child process. A child that dies (killed for memory, say) breaks a
`ProcessPoolExecutor` for good: the pool is dropped and made anew on the next call, and the call that saw it
fails, so Temporal retries its activity (no retry loop of our own).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")


class CpuPool:
    def __init__(self, processes: int = 0) -> None:
        if processes < 0:
            raise ValueError("processes must be 0 (inline) or more")
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a child process (`fn` and its arguments pickled: a module-level function of plain
        data), or inline when the pool has no processes."""
        if not self.processes:
            result = fn(*args)
            await asyncio.sleep(0)
            return result
        executor = self._executor
        if executor is None:
            # spawn, not fork: the worker holds Temporal's Rust threads and asyncpg's sockets, which a forked
            # child must not inherit.
            executor = self._executor = ProcessPoolExecutor(
                self.processes, multiprocessing.get_context("spawn"), initializer=_child_init, initargs=(os.getpid(),))
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except BrokenProcessPool:
            if self._executor is executor:
                self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def _child_init(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the worker handles it and closes the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), name="exit-with-worker", daemon=True).start()


def _exit_with(parent: int) -> None:
    """A child whose worker was killed (SIGKILL, OOM) would wait for work forever: it holds its own end of
    the work queue, so it never sees the queue close. It leaves once the worker is gone."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)
