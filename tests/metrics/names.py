"""The metric names the service exposes, from the collectors themselves (not a hand-kept list)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import metrics.service  # noqa: F401  (registers the process counters)
from metrics.fleet import FleetCollector
from store.fleet_repo import BackfillProgress, FleetSnapshot

_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exposed_service_metric_names() -> set[str]:
    """Every `qbo_` series name a scrape of the API or the worker can contain."""
    full = FleetSnapshot(partners_by_state={"active": 1}, sync_lag_seconds={"p": 1.0},
                         postings={("payment", "posted"): 1}, needs_attention={("payment", "x"): 1},
                         backfills={"p": BackfillProgress(1, 2)})
    families = [*REGISTRY.collect(), *FleetCollector(full).collect()]
    return {f.name + suffix for f in families if f.name.startswith("qbo_") for suffix in _SUFFIXES[f.type]}


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/qbo-fleet.json"


def dashboard_metric_names() -> set[str]:
    """Every qbo_ and temporal_ series name the provisioned Grafana dashboard queries (the JSON must parse)."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs and all(p["datasource"]["uid"] == "prometheus" for p in dashboard["panels"])
    return {name for e in exprs for name in re.findall(r"\b(?:qbo|temporal)_[a-z_]+\b", e)}
