"""Fleet gauges from PostgreSQL, collected at scrape time: what Prometheus should see about every partner,
whichever process did the work (`store.fleet_repo` reads it).

Only these gauges carry `partner_id`, and only where a per-partner answer is the point: the sync lag of
each connected partner (N partners → N series) and the backfills still running. Everything else is
aggregated over the fleet. Served by the API's `/metrics` only: every worker replica would serve the same
numbers again and multiply the series.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import asyncpg
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from store.fleet_repo import FleetSnapshot, read_fleet

log = logging.getLogger("metrics.fleet")
QUERY_TIMEOUT = 5.0  # a scrape must answer well within Prometheus' 10 s default timeout


class FleetCollector(Collector):
    """Yields one snapshot's gauges; `None` (PostgreSQL unreachable) yields `qbo_fleet_up 0` alone, so a
    dashboard tells "no data" from "zero"."""

    def __init__(self, snapshot: FleetSnapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("qbo_fleet_up", "1 when the fleet gauges below were read from PostgreSQL")
        up.add_metric([], 0 if self.snapshot is None else 1)
        yield up
        snapshot = self.snapshot
        if snapshot is None:
            return
        partners = GaugeMetricFamily("qbo_partners", "Partners by integration state", labels=["state"])
        for state, n in sorted(snapshot.partners_by_state.items()):
            partners.add_metric([state], n)
        yield partners
        lag = GaugeMetricFamily(
            "qbo_sync_lag_seconds", "Seconds since the partner's last successful sync cycle (since connecting "
            "when none yet); disconnected partners have none", labels=["partner_id"])
        for pid, seconds in sorted(snapshot.sync_lag_seconds.items()):
            lag.add_metric([pid], seconds)
        yield lag
        postings = GaugeMetricFamily("qbo_postings", "Platform payments and payouts by QBO posting status",
                                     labels=["kind", "status"])
        for (kind, status), n in sorted(snapshot.postings.items()):
            postings.add_metric([kind, status], n)
        yield postings
        attention = GaugeMetricFamily("qbo_needs_attention", "Payments and payouts in needs_attention, by "
                                      "attention_code", labels=["kind", "code"])
        for (kind, code), n in sorted(snapshot.needs_attention.items()):
            attention.add_metric([kind, code], n)
        yield attention
        fetched = GaugeMetricFamily("qbo_backfill_fetched_objects", "Objects fetched by each backfill still "
                                    "running", labels=["partner_id"])
        total = GaugeMetricFamily("qbo_backfill_total_objects", "Objects QBO counted for each backfill still "
                                  "running (0 until counted)", labels=["partner_id"])
        for pid, progress in sorted(snapshot.backfills.items()):
            fetched.add_metric([pid], progress.fetched)
            total.add_metric([pid], progress.total)
        yield fetched
        yield total


async def snapshot_or_none(pool: asyncpg.Pool) -> FleetSnapshot | None:
    try:
        return await asyncio.wait_for(read_fleet(pool), QUERY_TIMEOUT)
    except Exception as exc:  # a scrape reports the outage (qbo_fleet_up 0), it does not fail
        log.warning("fleet metrics unavailable: %s", type(exc).__name__)
        return None


async def fleet_exposition(pool: asyncpg.Pool) -> bytes:
    """The fleet gauges as Prometheus text, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(await snapshot_or_none(pool)))
    return generate_latest(registry)
