"""Request counters per realm for benchmarks and limiter tests (GET /_emulator/requests)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RealmStats:
    by_method: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)  # "query", "create", ...
    by_entity_operation: Counter = field(default_factory=Counter)  # "query:Invoice", ...
    total: int = 0
    batch_items: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults_injected: int = 0
    throttled: int = 0
    unauthorized: int = 0

    def as_json(self) -> dict:
        return {"total": self.total, "by_method": dict(self.by_method), "by_operation": dict(self.by_operation),
                "by_entity_operation": dict(self.by_entity_operation), "batch_items": self.batch_items,
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "faults_injected": self.faults_injected, "throttled": self.throttled,
                "unauthorized": self.unauthorized}


class RequestStats:
    def __init__(self) -> None:
        self.realms: dict[str, RealmStats] = {}

    def realm(self, realm: str) -> RealmStats:
        stats = self.realms.get(realm)
        if stats is None:
            stats = self.realms[realm] = RealmStats()
        return stats

    def enter(self, realm: str, method: str) -> RealmStats:
        s = self.realm(realm)
        s.total += 1
        s.by_method[method] += 1
        s.in_flight += 1
        s.max_in_flight = max(s.max_in_flight, s.in_flight)
        return s

    @staticmethod
    def operation(s: RealmStats, operation: str, entity: str | None) -> None:
        s.by_operation[operation] += 1
        if entity:
            s.by_entity_operation[f"{operation}:{entity}"] += 1

    def reset(self, realm: str | None = None) -> None:
        targets = [realm] if realm else list(self.realms)
        for r in targets:
            old = self.realms.get(r)
            fresh = RealmStats()
            if old:  # requests still running keep counting down correctly
                fresh.in_flight = old.in_flight
                fresh.max_in_flight = old.in_flight
            self.realms[r] = fresh

    def report(self, realm: str | None) -> dict:
        if realm:
            return {"realm_id": realm, **self.realm(realm).as_json()}
        total = RealmStats()
        for s in self.realms.values():
            total.total += s.total
            total.by_method.update(s.by_method)
            total.by_operation.update(s.by_operation)
            total.by_entity_operation.update(s.by_entity_operation)
            total.batch_items += s.batch_items
            total.in_flight += s.in_flight
            total.max_in_flight = max(total.max_in_flight, s.max_in_flight)
            total.faults_injected += s.faults_injected
            total.throttled += s.throttled
            total.unauthorized += s.unauthorized
        return {"realm_id": None, **total.as_json(), "realms": {r: s.as_json() for r, s in self.realms.items()}}
