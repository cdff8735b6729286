"""Prometheus metrics of the service (README "Metrics").

`service` holds the process-local counters (QBO calls, cool-downs, token refreshes, cycles, webhooks),
`fleet` the gauges read from PostgreSQL at scrape time (partners by state, sync lag, postings, backfill),
`worker` the worker's two endpoints. Depends on prometheus_client and the stdlib only, so any package may
import it without pulling in I/O.
"""
