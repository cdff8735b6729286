"""The per-realm limiter: in-flight bound, sliding windows, cool-down after a 429 (qbo-reference §9)."""

from __future__ import annotations

import asyncio

import pytest

from qbo.errors import QboThrottled
from qbo.limiter import LimiterRegistry, Limits, RealmLimiter, _Window
from tests.helpers import eventually


async def test_in_flight_never_exceeds_the_bound() -> None:
    limiter = RealmLimiter(Limits(max_in_flight=3, per_second=1000, per_minute=1000))
    release = asyncio.Event()
    entered = 0

    async def call() -> None:
        nonlocal entered
        async with limiter.slot():
            entered += 1
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(12)]
    await eventually(lambda: asyncio.sleep(0, entered == 3), what="3 calls in flight")
    for _ in range(20):  # give the others every chance to get in
        await asyncio.sleep(0)
    assert entered == 3 and limiter.in_flight == 3
    release.set()
    await asyncio.gather(*tasks)
    assert entered == 12 and limiter.max_in_flight_seen == 3 and limiter.in_flight == 0


def test_sliding_window() -> None:
    window = _Window(limit=2, period=1.0)
    assert window.wait_time(10.0) == 0
    window.stamps.extend([10.0, 10.4])
    assert window.wait_time(10.5) == pytest.approx(0.5)
    assert window.wait_time(11.0) == 0  # the 10.0 stamp has left the window


async def test_cooldown_after_429_fails_fast_then_recovers() -> None:
    now = [100.0]
    limiter = RealmLimiter(Limits(throttle_cooldown=60.0), clock=lambda: now[0])
    assert limiter.throttled(None) == 60.0  # no Retry-After: Intuit's 60 s
    with pytest.raises(QboThrottled) as info:
        async with limiter.slot():
            pass
    assert info.value.retry_after == pytest.approx(60.0)
    now[0] += 61
    async with limiter.slot():
        pass
    assert limiter.throttled(5.0) == 5.0  # Retry-After wins


def test_registry_shares_one_limiter_per_realm() -> None:
    registry = LimiterRegistry()
    assert registry.get("1") is registry.get("1") and registry.get("1") is not registry.get("2")
