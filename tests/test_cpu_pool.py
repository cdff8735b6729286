"""`activities.cpu.CpuPool`: the backfill's decide process. Real child processes (spawned), no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from activities.cpu import CpuPool
from tests.helpers import wait_until


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would


async def test_runs_in_a_child_process_and_inline() -> None:
    pool = CpuPool(1)
    try:
        assert await pool.run(os.getpid) != os.getpid()
        assert await pool.run(divmod, 7, 2) == (3, 1)
    finally:
        pool.close()
    assert await CpuPool(0).run(os.getpid) == os.getpid()


async def test_a_dead_child_fails_that_call_and_the_next_call_gets_a_new_one() -> None:
    pool = CpuPool(1)
    try:
        first = await pool.run(os.getpid)
        with pytest.raises(BrokenProcessPool):
            await pool.run(_kill_self)  # the activity fails; Temporal retries it
        second = await pool.run(os.getpid)
        assert second not in (first, os.getpid())
    finally:
        pool.close()


async def test_an_error_in_the_child_reaches_the_caller_and_the_pool_goes_on() -> None:
    pool = CpuPool(1)
    try:
        with pytest.raises(ZeroDivisionError):
            await pool.run(divmod, 1, 0)
        assert await pool.run(divmod, 9, 4) == (2, 1)
    finally:
        pool.close()


def test_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="processes"):
        CpuPool(-1)


_WORKER = """
import asyncio, os, sys
from activities.cpu import CpuPool

async def main():
    pool = CpuPool(1)
    print(await pool.run(os.getpid), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def test_a_killed_worker_leaves_no_child_behind() -> None:
    worker = subprocess.Popen([sys.executable, "-c", _WORKER], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    try:
        assert _alive(child)
        worker.kill()  # SIGKILL: the worker's own shutdown never runs
        worker.wait()
        wait_until(lambda: not _alive(child), timeout=30, what="the decide process to leave with its worker")
    finally:
        worker.kill()
        if _alive(child):  # failed: leave no stray process
            os.kill(child, signal.SIGKILL)
