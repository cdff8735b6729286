"""Per-realm throttling (qbo-reference §9) and fault injection (PRODUCT §7)."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from qbo_emulator.config import EmulatorConfig


class Throttle:
    """500 requests per minute per realm (sliding window), 10 concurrent, 40 batch requests per minute."""

    def __init__(self) -> None:
        self.windows: dict[str, deque[float]] = {}
        self.batch_windows: dict[str, deque[float]] = {}
        self.frozen_at: dict[str, float] = {}  # realms whose windows stand still (`throttle_clock_frozen`)

    @staticmethod
    def _hit(windows: dict[str, deque[float]], realm: str, now: float, limit: int) -> bool:
        window = windows.setdefault(realm, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True

    def admit(self, realm: str, now: float, in_flight: int, cfg: EmulatorConfig, *, batch: bool) -> bool:
        if not cfg.throttle_enabled:
            return True
        if cfg.throttle_clock_frozen:  # every request counts as arriving at the first one's instant
            now = self.frozen_at.setdefault(realm, now)
        else:
            self.frozen_at.pop(realm, None)
        if in_flight > cfg.throttle_concurrent:
            return False
        if batch and not self._hit(self.batch_windows, realm, now, cfg.throttle_batch_per_minute):
            return False
        return self._hit(self.windows, realm, now, cfg.throttle_per_minute)

    def reset(self, realm: str | None = None) -> None:
        for windows in (self.windows, self.batch_windows, self.frozen_at):
            if realm:
                windows.pop(realm, None)
            else:
                windows.clear()


class FaultSpec(BaseModel):
    """PUT /_emulator/faults. Rates are probabilities per API request (0..1)."""

    model_config = ConfigDict(extra="forbid")

    realm_id: str | None = None
    rate_429: float = Field(0.0, ge=0, le=1)
    rate_500: float = Field(0.0, ge=0, le=1)
    rate_503: float = Field(0.0, ge=0, le=1)
    latency_ms: float = Field(0.0, ge=0)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    timeout_seconds: float = Field(60.0, ge=0)  # how long a "timeout" hangs before a 504
    timeout_after_apply: bool = True  # the write happens, only the answer is lost (the hard case)
    max_faults: int | None = None  # stop injecting after this many (e.g. "fail the next 2 calls")
    random_seed: int | None = None
    # A barrier, once per PUT: the realm's requests wait until this many are in flight at the same time, then
    # all go on (overlap made certain instead of likely by latency). Waits at most HOLD_MAX_SECONDS.
    hold_until_in_flight: int | None = Field(None, ge=1)
    # A Retry-After header (seconds) on the injected 429s. None, the default, is Intuit: no header, and the
    # client holds the realm for 60 s (qbo-reference §9, which also says to honour a Retry-After if present).
    retry_after_seconds: float | None = Field(None, ge=0)


HOLD_MAX_SECONDS = 20.0


@dataclass
class Decision:
    latency: float = 0.0
    status: int | None = None  # 429 / 500 / 503 answered instead of the request
    timeout: float | None = None  # hang this long, then 504
    apply_before_timeout: bool = True
    hold_until_in_flight: int | None = None
    retry_after: float | None = None  # the Retry-After header of an injected 429


@dataclass
class FaultInjector:
    specs: dict[str | None, FaultSpec] = field(default_factory=dict)
    injected: dict[str | None, int] = field(default_factory=dict)
    rngs: dict[str | None, random.Random] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)  # per realm, for `hold_until_in_flight`

    def set(self, spec: FaultSpec) -> None:
        self.specs[spec.realm_id] = spec
        self.injected[spec.realm_id] = 0
        self.rngs[spec.realm_id] = random.Random(spec.random_seed)
        self._drop_gates(spec.realm_id)

    def clear(self, realm: str | None = None, *, everything: bool = False) -> None:
        for key in (list(self.specs) if everything else [realm]):
            self.specs.pop(key, None)
            self._drop_gates(key)

    def _drop_gates(self, key: str | None) -> None:
        for realm in list(self.gates) if key is None else [key]:
            self.gates.pop(realm, None)

    async def hold(self, realm: str, until_in_flight: int, in_flight: int) -> None:
        """Wait until `until_in_flight` requests of the realm are in flight together; the request that makes
        the count opens the gate for all of them (and for every later one, until the faults change)."""
        gate = self.gates.setdefault(realm, asyncio.Event())
        if in_flight >= until_in_flight:
            gate.set()
        try:
            await asyncio.wait_for(gate.wait(), HOLD_MAX_SECONDS)
        except TimeoutError:
            gate.set()  # fewer came: open for good (one wait, not one per request); max_in_flight shows it

    def decide(self, realm: str) -> Decision:
        key = realm if realm in self.specs else None
        spec = self.specs.get(key)
        if spec is None:
            return Decision()
        decision = Decision(latency=spec.latency_ms / 1000, hold_until_in_flight=spec.hold_until_in_flight,
                            retry_after=spec.retry_after_seconds)
        if spec.max_faults is not None and self.injected.get(key, 0) >= spec.max_faults:
            return decision
        rng = self.rngs[key]
        roll = rng.random()
        for status, rate in ((429, spec.rate_429), (500, spec.rate_500), (503, spec.rate_503)):
            if roll < rate:
                decision.status = status
                break
            roll -= rate
        else:
            if roll < spec.timeout_rate:
                decision.timeout = spec.timeout_seconds
                decision.apply_before_timeout = spec.timeout_after_apply
        if decision.status or decision.timeout is not None:
            self.injected[key] = self.injected.get(key, 0) + 1
        return decision
