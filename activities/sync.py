"""QBO → platform: fetch (stage QBO data in PostgreSQL, return counts and a cursor) and apply (diff the
staged data against the platform by the pure rules, in batched transactions)."""

from __future__ import annotations

from temporalio import activity

from workflows.models import (
    ApplyInput,
    ApplySummary,
    BackfillChunk,
    BackfillInput,
    FetchResult,
    FinishSyncRun,
    SyncRunStart,
)


class SyncActivities:
    def __init__(self, pool, qbo) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    async def backfill_chunk(self, input: BackfillInput) -> BackfillChunk:
        raise NotImplementedError

    @activity.defn
    async def fetch_changes(self, input: SyncRunStart) -> FetchResult:
        raise NotImplementedError

    @activity.defn
    async def apply_staged(self, input: ApplyInput) -> ApplySummary:
        raise NotImplementedError

    @activity.defn
    async def finish_sync_run(self, input: FinishSyncRun) -> None:
        raise NotImplementedError
