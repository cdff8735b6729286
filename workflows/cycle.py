"""The sync cycle of PartnerIntegrationWorkflow (PRODUCT.md §5): fetch what changed in QBO, apply it, post
pending payments and payouts, run a requested reconciliation, record the run. Apart from the loop,
onboarding and the messages (workflows/partner.py), whose workflow class mixes it in; the same rules hold
here: no I/O, activities named only to schedule them, QBO data stays in PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.connection import ConnectionActivities
    from activities.posting import PostingActivities
    from activities.reconcile import ReconcileActivities
    from activities.sync import SyncActivities
    from workflows import search_attributes
    from workflows.models import (
        ApplyInput,
        ApplySummary,
        FetchResult,
        FinishSyncRun,
        PartnerRef,
        PartnerState,
        PostingInput,
        SyncRunStart,
        cycle_counts,
    )
    from workflows.policies import CDC_FETCH, DB_ONLY, LONG_QBO, POSTING, QBO

FULL_SWEEP_EVERY = timedelta(hours=24)
# How stale the LastSyncAt search attribute may get. Each upsert is a visibility write for the Temporal
# server, about a fifth of its CPU for an idle cycle (issue 15); a 10-minute grain still finds every
# partner whose syncing stalled. `status` and the API have the exact time.
LAST_SYNC_AT_GRAIN = timedelta(minutes=10)

ActivitiesT = TypeVar("ActivitiesT")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class SyncCycle:
    """The cycle's steps, for the workflow class that holds `partner`, runs activities through `_call` and
    continues as new after `cycles_this_run` cycles."""

    partner: PartnerState
    cycles_this_run: int

    if TYPE_CHECKING:
        async def _call(self, activity: Callable[[ActivitiesT, ArgT], Awaitable[ResultT]], arg: ArgT, what: str,
                        config: workflow.ActivityConfig, *, step: bool = True) -> ResultT: ...

        async def _call_local(self, activity: Callable[[ActivitiesT, ArgT], Awaitable[ResultT]], arg: ArgT,
                              what: str, config: workflow.LocalActivityConfig) -> ResultT: ...

    async def _sync_cycle(self) -> None:
        trigger, reconcile = self.partner.requests.take_cycle()
        pid = self.partner.partner_id
        fetch = await self._fetch_changes(trigger)
        counts = cycle_counts(fetch.staged, fetch.applied)
        # What fetch recorded on the run when nothing else was due; recorded again below only if the cycle
        # added to it (postings, a reconciliation).
        recorded = dict(counts) if fetch.run_finished else None
        if fetch.accounts_changed:
            accounts = await self._call(ConnectionActivities.load_accounts, PartnerRef(partner_id=pid),
                                        "reload accounts", QBO)
            self.partner.accounts = accounts.accounts
        applied = await self._apply_staged(fetch, counts)
        # What was applied may clear a parked payment's cause (a bookkeeper's fix in QBO): under
        # `post-after-large-apply` postings are looked for after it, whatever fetch counted before it, so the
        # payment posts in this cycle (fetch re-counts itself when it applied the changes).
        recheck = applied and workflow.patched("post-after-large-apply")
        await self._post(fetch, counts, recheck=recheck)
        if (fetch.reconcile_requested or reconcile) and workflow.patched("reconciliation-run"):
            await self._reconcile(counts)
        if counts != recorded and (len(counts) > 1 or fetch.staged):
            await self._call(SyncActivities.finish_sync_run,
                             FinishSyncRun(partner_id=pid, sync_run_id=fetch.sync_run_id, counts=counts),
                             "record sync run", DB_ONLY)
        self._record_cycle(counts)

    async def _fetch_changes(self, trigger: str) -> FetchResult:
        """Stage QBO's changes. Under `cycle-applies-in-fetch` fetch also applies a few and records the run
        when no posting follows, so the usual cycle is one activity; under `cycle-fetch-local` that activity
        is a local one when it is a CDC read (one QBO request and a few statements): it runs inside the
        workflow task, so an idle or webhook cycle costs the Temporal server one workflow task and no
        activity task (issue 15). The daily full sweep pages through the company and stays a regular,
        heartbeating activity. Runs from before either patch replay what they scheduled."""
        now = workflow.now()
        full_sweep = self.partner.last_full_sweep_at is None or now - self.partner.last_full_sweep_at >= FULL_SWEEP_EVERY
        start = SyncRunStart(partner_id=self.partner.partner_id, trigger=trigger, full_sweep=full_sweep,
                             apply_small_changes=workflow.patched("cycle-applies-in-fetch"))
        what = f"fetch QBO changes ({trigger}{', full sweep' if full_sweep else ''})"
        if not full_sweep and workflow.patched("cycle-fetch-local"):
            fetch = await self._call_local(SyncActivities.fetch_changes, start, what, CDC_FETCH)
        else:
            fetch = await self._call(SyncActivities.fetch_changes, start, what, LONG_QBO)
        if full_sweep:
            self.partner.last_full_sweep_at = now
        if fetch.currency is not None:
            self.partner.currency = fetch.currency
        return fetch

    async def _apply_staged(self, fetch: FetchResult, counts: dict[str, int]) -> bool:
        """What fetch staged and did not apply itself (too many, or a run from before the patch). True when
        that changed anything."""
        if not (fetch.staged and fetch.applied is None):
            return False
        applied = await self._call(
            SyncActivities.apply_staged, ApplyInput(partner_id=self.partner.partner_id, sync_run_id=fetch.sync_run_id),
            f"apply {fetch.staged} staged changes", DB_ONLY)
        counts |= cycle_counts(fetch.staged, applied)
        return applied != ApplySummary()

    async def _post(self, fetch: FetchResult, counts: dict[str, int], *, recheck: bool = False) -> None:
        """Pending payments, then pending payouts (deposits, or settled `not_synced` when deposits are off).
        `recheck`: look for pending payments even when fetch counted none."""
        pid = self.partner.partner_id
        if fetch.pending_payments or recheck:
            what = (f"post {fetch.pending_payments} pending payments" if fetch.pending_payments
                    else "post payments the applied changes may have cleared")
            posted = await self._call(
                PostingActivities.post_payments, PostingInput(partner_id=pid, sync_run_id=fetch.sync_run_id),
                what, POSTING)
            self.partner.pending_postings = posted.remaining
            counts |= {"payments_posted": posted.posted, "payments_needing_attention": posted.needs_attention}
        else:
            self.partner.pending_postings = 0
        deposits_on = bool(self.partner.preferences and self.partner.preferences.create_deposits)
        # With deposits off, pending payouts are settled as `not_synced` by the same activity (added later,
        # hence the patch: older histories never scheduled it in that case).
        if fetch.pending_payouts and (deposits_on or workflow.patched("settle-payouts-when-deposits-off")):
            deposits = await self._call(
                PostingActivities.create_deposits, PostingInput(partner_id=pid, sync_run_id=fetch.sync_run_id),
                f"create deposits for {fetch.pending_payouts} payouts", POSTING)
            counts |= {"deposits_created": deposits.deposited, "payouts_waiting": deposits.waiting}

    async def _reconcile(self, counts: dict[str, int]) -> None:
        """A requested reconciliation run, after this cycle's postings (PRODUCT.md §6): paged, through the
        realm's limiter like every other call; the report goes to PostgreSQL, not into history."""
        summary = await self._call(
            ReconcileActivities.run_reconciliation, PartnerRef(partner_id=self.partner.partner_id),
            "reconcile with QBO", LONG_QBO)
        if summary.run_id is not None:
            counts |= {"reconciliations": 1, "reconciliation_mismatches": summary.mismatches}

    def _record_cycle(self, counts: dict[str, int]) -> None:
        self.partner.cycles += 1
        self.cycles_this_run += 1
        self.partner.last_sync_at = workflow.now()
        self.partner.last_error = None
        for key, value in counts.items():
            self.partner.counts[key] = self.partner.counts.get(key, 0) + value
        self.partner.step = "idle"
        if self._last_sync_at_due():
            self.partner.last_sync_at_searchable = self.partner.last_sync_at
            workflow.upsert_search_attributes([search_attributes.LAST_SYNC_AT.value_set(self.partner.last_sync_at)])

    def _last_sync_at_due(self) -> bool:
        """Under `last-sync-at-grain`, LastSyncAt is written when it is LAST_SYNC_AT_GRAIN old or more (or
        never written); runs from before the patch wrote it after every cycle."""
        if not workflow.patched("last-sync-at-grain"):
            return True
        shown = self.partner.last_sync_at_searchable
        return shown is None or workflow.now() - shown >= LAST_SYNC_AT_GRAIN
