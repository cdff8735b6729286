"""The worker: hosts PartnerIntegrationWorkflow and its activities on the `qbo-integration` task queue.

Connection settings come from Temporal's environment configuration; activities get one asyncpg pool and
one QBO client per process (injected, so tests can build them the same way). SIGINT/SIGTERM shut down
gracefully: in-flight activities get time to finish, heartbeating ones are retried elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.worker import Worker

from settings import TASK_QUEUE, Settings, configure_logging, get_settings
from starter.client import connect_temporal

log = logging.getLogger("worker")


class PromoteWorkflowTaskFailures(logging.Filter):
    """The SDK logs workflow-task failures (non-determinism, sandbox violations, bugs) at WARNING; a stuck
    workflow must page someone, so raise them to ERROR (samples-python `hello_change_log_level`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "__temporal_error_identifier", None) == "WorkflowTaskFailure":
            record.levelno, record.levelname = logging.ERROR, "ERROR"
        return True


def build_activities(pool, qbo) -> list:
    from activities.connection import ConnectionActivities
    from activities.posting import PostingActivities
    from activities.reconcile import ReconcileActivities
    from activities.sync import SyncActivities

    connection, sync, posting = ConnectionActivities(pool, qbo), SyncActivities(pool, qbo), PostingActivities(pool, qbo)
    return [
        connection.verify_company, connection.load_accounts, connection.apply_default_preferences,
        connection.save_preferences, connection.set_connection_state, connection.revoke_connection,
        sync.backfill_chunk, sync.fetch_changes, sync.apply_staged, sync.finish_sync_run,
        posting.post_payments, posting.create_deposits, ReconcileActivities(pool, qbo).run_reconciliation,
    ]


def capacity(settings: Settings) -> dict:
    """The worker's slots, cache and pollers from settings (README "Fleet size per worker")."""
    from temporalio.worker import PollerBehaviorSimpleMaximum

    out: dict = {"max_cached_workflows": settings.worker_max_cached_workflows}
    if settings.worker_max_concurrent_workflow_tasks is not None:
        out["max_concurrent_workflow_tasks"] = settings.worker_max_concurrent_workflow_tasks
    if settings.worker_max_concurrent_activities is not None:
        out["max_concurrent_activities"] = settings.worker_max_concurrent_activities
    if settings.worker_workflow_task_pollers is not None:
        out["workflow_task_poller_behavior"] = PollerBehaviorSimpleMaximum(settings.worker_workflow_task_pollers)
    if settings.worker_activity_task_pollers is not None:
        out["activity_task_poller_behavior"] = PollerBehaviorSimpleMaximum(settings.worker_activity_task_pollers)
    return out


def build_worker(client, pool, qbo, task_queue: str = TASK_QUEUE, **kwargs) -> Worker:
    from workflows.partner import PartnerIntegrationWorkflow

    return Worker(client, task_queue=task_queue, workflows=[PartnerIntegrationWorkflow],
                  activities=build_activities(pool, qbo), graceful_shutdown_timeout=timedelta(seconds=10),
                  **kwargs)


async def run(settings: Settings) -> None:
    from metrics.worker import start_service_endpoint, temporal_runtime
    from qbo.client import QboApi
    from store.db import create_pool
    from store.housekeeping import housekeeping_loop

    start_service_endpoint(settings)
    client = await connect_temporal(settings, runtime=temporal_runtime(settings))
    log.info("metrics on %s:%s (service) and :%s (Temporal SDK)", settings.metrics_bind_host,
             settings.worker_metrics_port, settings.worker_temporal_metrics_port)
    pool = await create_pool(settings.database_url, max_size=20, wait_seconds=60)
    qbo = QboApi(settings, pool)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    housekeeping = asyncio.create_task(housekeeping_loop(pool))  # purges expired OAuth states, old webhook rows
    try:
        async with build_worker(client, pool, qbo, **capacity(settings)):
            log.info("worker polling task queue %s", TASK_QUEUE)
            await stop.wait()
            log.info("shutting down")
    finally:
        housekeeping.cancel()
        await qbo.aclose()
        await pool.close()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(PromoteWorkflowTaskFailures())
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
