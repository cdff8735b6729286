"""The worker's two Prometheus endpoints, on ports from settings (README "Metrics").

- `WORKER_METRICS_PORT` (9464): this process's counters (`metrics.service`), served by prometheus_client's
  own `start_http_server` (a stdlib HTTP server in a daemon thread: no web framework in the worker, and a
  scrape never waits on the event loop the activities run on).
- `WORKER_TEMPORAL_METRICS_PORT` (9465): the Temporal SDK's runtime metrics (task slots, poll and
  schedule-to-start latencies, activity and workflow-task failures, sticky cache), exported by the SDK's
  Rust core itself; that server can't host Python metrics, hence two ports.

Neither carries a partner id or anything secret, so both are unauthenticated and bound to
`METRICS_BIND_HOST` (127.0.0.1 by default; 0.0.0.0 inside compose's private network).
"""

from __future__ import annotations

from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from settings import Settings


def temporal_runtime(settings: Settings) -> Runtime:
    """A Temporal runtime exporting the SDK's metrics with Prometheus naming (`_total` on counters, units
    in names, durations in seconds) under the SDK's `temporal_` prefix."""
    prometheus = PrometheusConfig(
        bind_address=f"{settings.metrics_bind_host}:{settings.worker_temporal_metrics_port}",
        counters_total_suffix=True, unit_suffix=True, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


def start_service_endpoint(settings: Settings) -> None:
    """Serve the default registry's counters on `WORKER_METRICS_PORT`; raises OSError if it is taken, so a
    misconfigured worker fails loudly at start instead of running unobserved."""
    start_http_server(settings.worker_metrics_port, addr=settings.metrics_bind_host)
