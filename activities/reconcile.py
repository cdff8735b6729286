"""Reconciliation as an activity: the partner's workflow runs the open run and stores its report.

The check itself is `services.reconcile.reconcile` (the CLI runs it too, outside any workflow); this
activity adds the run bookkeeping (store/reconcile_repo.py) and heartbeats per page.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.errors import heartbeat, qbo_failures
from qbo.client import QboApi
from services.reconcile import MISMATCH_KEYS, reconcile
from store import reconcile_repo as repo
from workflows.models import PartnerRef, ReconcileSummary


class ReconcileActivities:
    def __init__(self, pool: asyncpg.Pool, qbo: QboApi) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    @qbo_failures
    async def run_reconciliation(self, ref: PartnerRef) -> ReconcileSummary:
        """Run the partner's open reconciliation run (none: nothing to do) and store its report."""
        run_id = await repo.start_run(self.pool, ref.partner_id)
        if run_id is None:
            return ReconcileSummary()
        report = await reconcile(self.pool, self.qbo, ref.partner_id, progress=heartbeat)
        await repo.finish_run(self.pool, run_id, report)
        mismatches = sum(report[k] for k in MISMATCH_KEYS)
        return ReconcileSummary(run_id=run_id, mismatches=mismatches, qbo_calls=report["qbo_calls"])
