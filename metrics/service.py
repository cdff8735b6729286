"""The process-local metrics: counters of things this process did, in prometheus_client's default registry.

They are defined here once, not next to the code that counts them, so the list README documents, the
Grafana dashboard queries and the tests scrape is one module. No label carries a partner id, realm id or
anything secret: these series are per process and high-volume, so their label values are small closed
sets (operations, HTTP statuses, outcomes, triggers). Per-partner figures come from `metrics.fleet`.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Histogram, disable_created_metrics

# The `_created` companion series double every counter for a timestamp nobody graphs here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client

QBO_REQUESTS = Counter(
    "qbo_requests", "QBO calls sent (Accounting API and OAuth), by operation, method and HTTP status "
    "(`transport_error` when no answer came)", ["operation", "method", "status"])
QBO_REQUEST_SECONDS = Histogram(
    "qbo_request_duration_seconds", "Time from sending a QBO call to its answer (limiter wait excluded)",
    ["operation"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
QBO_THROTTLE_COOLDOWNS = Counter(
    "qbo_throttle_cooldowns", "429 answers that put a realm into a cool-down in this process")
QBO_TOKEN_REFRESHES = Counter(
    "qbo_token_refreshes", "OAuth refresh-token grants sent, by outcome (ok, invalid_grant, error)", ["outcome"])
SYNC_CYCLES = Counter(
    "qbo_sync_cycles", "Sync cycles finished, by trigger (interval, sync_now, onboarding, reconnected) and "
    "outcome (succeeded, failed)", ["trigger", "outcome"])
WEBHOOK_DELIVERIES = Counter(
    "qbo_webhook_deliveries", "POST /webhooks/qbo requests, by outcome (accepted, bad_signature)", ["outcome"])
WEBHOOK_EVENTS = Counter(
    "qbo_webhook_events", "Webhook events, by outcome: at receipt new, duplicate or unusable; when routed "
    "signalled, no_workflow or unknown_realm", ["outcome"])
WEBHOOK_SIGNALS = Counter(
    "qbo_webhook_signals", "sync_now signals of webhook routing, by outcome: sent, coalesced (the partner's "
    "outstanding signal covers its events), no_workflow, failed (kept for a retry)", ["outcome"])

_SEGMENT = re.compile(r"[a-z_]{1,32}")


def operation(path: str) -> str:
    """The bounded `operation` label of an Accounting API path: its first segment (`query`, `cdc`, `batch`,
    `payment`, `companyinfo`…), never an id; anything unexpected is `other`, so a path can't mint series."""
    segment = path.split("?", 1)[0].split("/", 1)[0].lower()
    return segment if _SEGMENT.fullmatch(segment) else "other"


def record_qbo_call(operation: str, method: str, status: int | None, seconds: float | None) -> None:
    """One QBO call: `status` None means no HTTP answer (timeout, connection refused)."""
    QBO_REQUESTS.labels(operation, method, str(status) if status is not None else "transport_error").inc()
    if seconds is not None:
        QBO_REQUEST_SECONDS.labels(operation).observe(seconds)
