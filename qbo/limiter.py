"""Per-realm request limiter, shared by everything in one worker process.

QBO allows 500 requests/minute and 10 requests/second (historically 10 concurrent) per realm and app
(qbo-reference §9). Every API call for a realm passes through that realm's `RealmLimiter`: a semaphore for
in-flight requests and two sliding windows. Waiting for a slot is not a retry: the request has not been
sent yet. After a 429 the realm cools down (Retry-After if the server sent one, else Intuit's "wait 60
seconds"): calls during the cool-down fail fast with `QboThrottled` instead of spending quota, and
Temporal's retry policy spaces the attempts. The limiter is per process; see qbo/README.md for several.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from metrics.service import QBO_THROTTLE_COOLDOWNS
from qbo.errors import QboThrottled


@dataclass(frozen=True)
class Limits:
    max_in_flight: int = 10
    per_second: int = 10
    per_minute: int = 500
    throttle_cooldown: float = 60.0  # seconds to hold a realm after a 429 without Retry-After (§9)


class _Window:
    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.stamps: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        return 0.0 if len(self.stamps) < self.limit else self.stamps[0] + self.period - now


class RealmLimiter:
    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._sem = asyncio.Semaphore(limits.max_in_flight)
        self._admission = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self._windows = [_Window(limits.per_second, 1.0), _Window(limits.per_minute, 60.0)]
        self._cooldown_until = 0.0
        self.in_flight = 0
        self.max_in_flight_seen = 0

    def cooldown_remaining(self) -> float:
        return max(0.0, self._cooldown_until - self._clock())

    def throttled(self, retry_after: float | None) -> float:
        """Record a 429; returns the cool-down applied (seconds). Counted, so ops see a fleet that
        outgrows the per-process budget (README, "Several worker processes")."""
        QBO_THROTTLE_COOLDOWNS.inc()
        seconds = (
            retry_after if retry_after is not None and retry_after >= 0 else self.limits.throttle_cooldown
        )
        self._cooldown_until = max(self._cooldown_until, self._clock() + seconds)
        return seconds

    def _check_cooldown(self) -> None:
        remaining = self.cooldown_remaining()
        if remaining > 0:
            raise QboThrottled(
                "realm is cooling down after a 429; not calling QBO",
                status=429,
                code="3001",
                retry_after=remaining,
            )

    async def _admit(self) -> None:
        async with self._admission:
            while True:
                now = self._clock()
                wait = max(w.wait_time(now) for w in self._windows)
                if wait <= 0:
                    for w in self._windows:
                        w.stamps.append(now)
                    return
                await asyncio.sleep(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the duration of one HTTP request."""
        self._check_cooldown()
        async with self._sem:
            await self._admit()
            self._check_cooldown()
            self.in_flight += 1
            self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1


class LimiterRegistry:
    """One `RealmLimiter` per realm for the whole process."""

    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self._clock = clock  # a test's controlled clock; time.monotonic otherwise
        self._by_realm: dict[str, RealmLimiter] = {}

    def get(self, realm_id: str) -> RealmLimiter:
        limiter = self._by_realm.get(realm_id)
        if limiter is None:
            limiter = self._by_realm[realm_id] = RealmLimiter(self.limits, clock=self._clock)
        return limiter
