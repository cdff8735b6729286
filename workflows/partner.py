"""PartnerIntegrationWorkflow: one long-running entity workflow per partner (PRODUCT.md §5).

Shape (temporal-notes §0.6, samples-python `safe_message_handlers`): all state in one `PartnerState`
built in `@workflow.init`; handlers that await are serialised by a lock; handlers are drained before
continue-as-new and before completing. The workflow only decides *what* to do next; activities do the
I/O and keep QBO data in PostgreSQL, so history holds ids, counts and cursors, never a page of QBO data.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.connection import ConnectionActivities
    from activities.posting import PostingActivities
    from activities.reconcile import ReconcileActivities
    from activities.sync import SyncActivities
    from rules.preferences import Preferences, validate_preferences
    from workflows import search_attributes as sa
    from workflows.models import (
        AccountsResult,
        ApplyInput,
        ApplySummary,
        BackfillInput,
        CompanyResult,
        ConnectionStateInput,
        DepositSummary,
        DisconnectRequest,
        FetchResult,
        FinishSyncRun,
        IntegrationState,
        PartnerRef,
        PartnerState,
        PartnerStatus,
        PartnerWorkflowInput,
        PostingInput,
        PostingSummary,
        PreferencesInput,
        Progress,
        ReconcileSummary,
        SyncRunStart,
    )
    from workflows.policies import DB_ONLY, LONG_QBO, POSTING, QBO, is_auth_failure

FULL_SWEEP_EVERY = timedelta(hours=24)
# Continue-as-new after this many cycles even if the server never suggests it (the time-skipping test
# server doesn't): ~12 events per idle cycle keeps every run well under the 4,096-event suggestion.
MAX_CYCLES_PER_RUN = 250
BACKFILL_ENTITIES = ("Customer", "Invoice")


class Disconnected(Exception):
    """Raised inside a cycle when a disconnect arrived: stop quietly, the handler does the rest."""


class NeedsReconnect(Exception):
    """Raised inside a cycle when QBO refused our tokens: wait for `reconnected`, no busy retry."""


@workflow.defn
class PartnerIntegrationWorkflow:
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        self.s = input.state or PartnerState(partner_id=input.partner_id, realm_id=input.realm_id)
        self.interval = timedelta(seconds=input.sync_interval_seconds)
        self.lock = asyncio.Lock()
        self.cycles_this_run = 0

    # --- main loop -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        self._upsert_search_attributes()
        while not await self._disconnected():
            if self.s.state is IntegrationState.NEEDS_RECONNECT:
                await workflow.wait_condition(lambda: self.s.reconnect_requested or self.s.disconnect_requested)
                if await self._disconnected():
                    break
                if self.s.disconnect_requested:
                    continue  # a disconnect failed: still waiting for a reconnect
                await self._resume_after_reconnect()
            elif self.s.onboarded:
                await self._sleep_until_woken()
            if await self._disconnected():
                break
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(PartnerWorkflowInput(
                    partner_id=self.s.partner_id, realm_id=self.s.realm_id,
                    sync_interval_seconds=int(self.interval.total_seconds()), state=self.s))
            await self._guarded(self._onboard if not self.s.onboarded else self._sync_cycle)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _disconnected(self) -> bool:
        """True once a disconnect has completed. While one is in progress, wait for its outcome: a revoke
        that fails for good leaves the partner connected (the caller is told and may try again)."""
        if self.s.disconnect_requested:
            await workflow.wait_condition(
                lambda: self.s.state is IntegrationState.DISCONNECTED or not self.s.disconnect_requested)
        return self.s.state is IntegrationState.DISCONNECTED

    async def _sleep_until_woken(self) -> None:
        """Wait for the interval, or less when a message needs the loop (sync_now, reconnect, disconnect)."""
        try:
            await workflow.wait_condition(self._woken, timeout=self.interval, timeout_summary="next scheduled sync")
        except TimeoutError:
            pass  # the interval elapsed: a scheduled cycle
        if self.s.reconnect_requested and workflow.patched("reconnect-while-active"):
            # A reconnect while the connection works (new tokens from the dashboard): one cycle, then
            # back to sleep. Leaving the flag set would keep `_woken` true and spin the loop.
            self.s.reconnect_requested = False
            self.s.sync_requested, self.s.sync_trigger = True, "reconnected"

    def _woken(self) -> bool:
        return (self.s.sync_requested or self.s.disconnect_requested or self.s.reconnect_requested
                or self.s.reconcile_requested or self._should_continue_as_new())

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested() or self.cycles_this_run >= MAX_CYCLES_PER_RUN

    async def _guarded(self, step) -> None:
        """Run onboarding or a cycle; turn auth failures into `needs_reconnect`, others into last_error."""
        try:
            await step()
        except Disconnected:
            pass
        except NeedsReconnect as exc:
            await self._set_state(IntegrationState.NEEDS_RECONNECT, last_error=str(exc))
        except ActivityError as err:
            if self.s.disconnect_requested:
                return
            if is_auth_failure(err):
                await self._set_state(IntegrationState.NEEDS_RECONNECT, last_error=_describe(err))
                return
            self.s.last_error = _describe(err)
            workflow.logger.warning("partner %s: %s failed: %s", self.s.partner_id, self.s.step, self.s.last_error)

    async def _resume_after_reconnect(self) -> None:
        self.s.reconnect_requested = False
        await self._set_state(IntegrationState.ACTIVE if self.s.onboarded else IntegrationState.ONBOARDING)
        self.s.last_error = None
        self.s.sync_requested, self.s.sync_trigger = True, "reconnected"

    # --- onboarding ----------------------------------------------------------------------------------

    async def _onboard(self) -> None:
        ref = PartnerRef(partner_id=self.s.partner_id)
        company: CompanyResult = await self._call(ConnectionActivities.verify_company, ref, "verify company", QBO)
        self.s.company_name = company.company_name
        if company.currency is not None:  # absent from results recorded before currencies were read
            self.s.currency = company.currency
        accounts: AccountsResult = await self._call(ConnectionActivities.load_accounts, ref, "load accounts", QBO)
        self.s.accounts = accounts.accounts
        await self._default_preferences_serialised(ref)
        for entity in BACKFILL_ENTITIES:
            await self._backfill(entity)
        self.s.onboarded = True
        await self._set_state(IntegrationState.ACTIVE)
        self.s.sync_requested, self.s.sync_trigger = True, "onboarding"

    async def _default_preferences_serialised(self, ref: PartnerRef) -> None:
        """Under the handlers' lock: an `update_preferences` accepted meanwhile either runs first (and the
        defaults are skipped) or after them, never overwritten by them (samples-python
        safe_message_handlers: the main loop takes the same lock as the handlers)."""
        if workflow.patched("serialise-default-preferences"):
            async with self.lock:
                await self._apply_default_preferences(ref)
        else:
            await self._apply_default_preferences(ref)

    async def _apply_default_preferences(self, ref: PartnerRef) -> None:
        if self.s.preferences is None:
            self.s.preferences = await self._call(
                ConnectionActivities.apply_default_preferences, ref, "apply default preferences", QBO)
            await self._reload_accounts_if_unknown(self.s.preferences)

    async def _backfill(self, entity: str) -> None:
        """Page through one entity in chunks; each chunk is staged, then applied. Resumable after a crash:
        the activities keep the next page position in PostgreSQL."""
        progress = self.s.backfill.setdefault(entity, Progress())
        while True:
            chunk = await self._call(SyncActivities.backfill_chunk,
                                     BackfillInput(partner_id=self.s.partner_id, entity=entity),
                                     f"backfill {entity}s (page after {progress.done})", LONG_QBO)
            if chunk.staged:
                await self._call(SyncActivities.apply_staged, ApplyInput(partner_id=self.s.partner_id),
                                 f"apply {chunk.staged} staged {entity}s", DB_ONLY)
            progress.done, progress.total = chunk.fetched_total, chunk.total
            if chunk.finished:
                return

    # --- the sync cycle (§5) -------------------------------------------------------------------------

    async def _sync_cycle(self) -> None:
        trigger, self.s.sync_requested = self.s.sync_trigger, False
        # Cleared up front like sync_requested (a failing cycle must not keep the loop awake); the open run
        # in PostgreSQL is seen again by the next fetch (`FetchResult.reconcile_requested`).
        reconcile, self.s.reconcile_requested = self.s.reconcile_requested, False
        self.s.sync_trigger = "interval"
        now = workflow.now()
        full_sweep = self.s.last_full_sweep_at is None or now - self.s.last_full_sweep_at >= FULL_SWEEP_EVERY
        pid = self.s.partner_id
        fetch: FetchResult = await self._call(
            SyncActivities.fetch_changes, SyncRunStart(partner_id=pid, trigger=trigger, full_sweep=full_sweep),
            f"fetch QBO changes ({trigger}{', full sweep' if full_sweep else ''})", LONG_QBO)
        if full_sweep:
            self.s.last_full_sweep_at = now
        if fetch.currency is not None:
            self.s.currency = fetch.currency
        counts = {"staged": fetch.staged}
        if fetch.accounts_changed:
            accounts: AccountsResult = await self._call(ConnectionActivities.load_accounts, PartnerRef(partner_id=pid),
                                                        "reload accounts", QBO)
            self.s.accounts = accounts.accounts
        if fetch.staged:
            applied: ApplySummary = await self._call(
                SyncActivities.apply_staged, ApplyInput(partner_id=pid, sync_run_id=fetch.sync_run_id),
                f"apply {fetch.staged} staged changes", DB_ONLY)
            counts |= {k: v for k, v in applied.model_dump().items() if v}
        if fetch.pending_payments:
            posted: PostingSummary = await self._call(
                PostingActivities.post_payments, PostingInput(partner_id=pid, sync_run_id=fetch.sync_run_id),
                f"post {fetch.pending_payments} pending payments", POSTING)
            self.s.pending_postings = posted.remaining
            counts |= {"payments_posted": posted.posted, "payments_needing_attention": posted.needs_attention}
        else:
            self.s.pending_postings = 0
        deposits_on = bool(self.s.preferences and self.s.preferences.create_deposits)
        # With deposits off, pending payouts are settled as `not_synced` by the same activity (added later,
        # hence the patch: older histories never scheduled it in that case).
        if fetch.pending_payouts and (deposits_on or workflow.patched("settle-payouts-when-deposits-off")):
            deposits: DepositSummary = await self._call(
                PostingActivities.create_deposits, PostingInput(partner_id=pid, sync_run_id=fetch.sync_run_id),
                f"create deposits for {fetch.pending_payouts} payouts", POSTING)
            counts |= {"deposits_created": deposits.deposited, "payouts_waiting": deposits.waiting}
        if (fetch.reconcile_requested or reconcile) and workflow.patched("reconciliation-run"):
            await self._reconcile(counts)
        if len(counts) > 1 or fetch.staged:
            await self._call(SyncActivities.finish_sync_run,
                             FinishSyncRun(partner_id=pid, sync_run_id=fetch.sync_run_id, counts=counts),
                             "record sync run", DB_ONLY)
        self._record_cycle(counts)

    async def _reconcile(self, counts: dict[str, int]) -> None:
        """A requested reconciliation run, after this cycle's postings (PRODUCT.md §6): paged, through the
        realm's limiter like every other call; the report goes to PostgreSQL, not into history."""
        summary: ReconcileSummary = await self._call(
            ReconcileActivities.run_reconciliation, PartnerRef(partner_id=self.s.partner_id),
            "reconcile with QBO", LONG_QBO)
        if summary.run_id is not None:
            counts |= {"reconciliations": 1, "reconciliation_mismatches": summary.mismatches}

    def _record_cycle(self, counts: dict[str, int]) -> None:
        self.s.cycles += 1
        self.cycles_this_run += 1
        self.s.last_sync_at = workflow.now()
        self.s.last_error = None
        for key, value in counts.items():
            self.s.counts[key] = self.s.counts.get(key, 0) + value
        self.s.step = "idle"
        workflow.upsert_search_attributes([sa.LAST_SYNC_AT.value_set(self.s.last_sync_at)])

    # --- messages ------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> PartnerStatus:
        done = sum(p.done for p in self.s.backfill.values())
        totals = [p.total for p in self.s.backfill.values()]
        total = sum(totals) if totals and None not in totals and len(totals) == len(BACKFILL_ENTITIES) else None
        return PartnerStatus(
            partner_id=self.s.partner_id, realm_id=self.s.realm_id, state=self.s.state, step=self.s.step,
            company_name=self.s.company_name, backfill={"done": done, "total": total},
            last_sync_at=self.s.last_sync_at, counts=dict(self.s.counts), last_error=self.s.last_error,
            pending_postings=self.s.pending_postings, preferences=self.s.preferences)

    @workflow.signal
    def sync_now(self) -> None:
        if not self.s.sync_requested:
            self.s.sync_requested, self.s.sync_trigger = True, "sync_now"

    @workflow.signal
    def reconnected(self) -> None:
        self.s.reconnect_requested = True

    @workflow.signal
    def reconcile(self) -> None:
        """A reconciliation run was requested (its row waits in PostgreSQL): run it in the next cycle."""
        self.s.reconcile_requested = True

    @workflow.update
    async def update_preferences(self, preferences: Preferences) -> Preferences:
        return await self._apply_preferences(preferences)

    @update_preferences.validator
    def _validate_preferences(self, preferences: Preferences) -> None:
        problems = self._preference_problems(preferences)
        if problems:
            raise ValueError("; ".join(problems))

    @workflow.signal
    async def set_preferences(self, preferences: Preferences) -> None:
        """Fire-and-forget twin of `update_preferences`: same checks, a rejection becomes `last_error`."""
        problems = self._preference_problems(preferences)
        if problems:
            self.s.last_error = "preferences rejected: " + "; ".join(problems)
            return
        try:
            await self._apply_preferences(preferences)
        except ActivityError as err:  # a signal has no caller to fail: record it, never fail the workflow
            self.s.last_error = "preferences not saved: " + _describe(err)

    @workflow.update
    async def disconnect(self, request: DisconnectRequest) -> PartnerStatus:
        await self._disconnect(request)
        return self.status()

    @disconnect.validator
    def _validate_disconnect(self, request: DisconnectRequest) -> None:
        if self.s.disconnect_requested:
            raise ValueError("already disconnected")

    @workflow.signal
    async def request_disconnect(self, request: DisconnectRequest) -> None:
        """Fire-and-forget twin of `disconnect`."""
        if self.s.disconnect_requested:
            self.s.last_error = "disconnect ignored: already disconnected"
            return
        try:
            await self._disconnect(request)
        except ActivityError as err:
            self.s.last_error = "disconnect: " + _describe(err)

    def _preference_problems(self, preferences: Preferences) -> list[str]:
        if self.s.disconnect_requested or self.s.state is IntegrationState.DISCONNECTED:
            return ["the partner is disconnected"]
        if not self.s.accounts:
            return ["the partner's QBO accounts are not loaded yet; try again once onboarding has verified the company"]
        return validate_preferences(preferences, self.s.accounts, self.s.currency)

    async def _apply_preferences(self, preferences: Preferences) -> Preferences:
        async with self.lock:
            applied: Preferences = await self._call(
                ConnectionActivities.save_preferences,
                PreferencesInput(partner_id=self.s.partner_id, preferences=preferences), "save preferences", QBO,
                step=False)
            self.s.preferences = applied
            await self._reload_accounts_if_unknown(applied)
            self.s.sync_requested = self.s.sync_requested or applied.create_deposits
            return applied

    async def _reload_accounts_if_unknown(self, preferences: Preferences) -> None:
        """Saving preferences may create the fee account in QBO; the validator must know it from then on,
        or the dashboard could not send the applied preferences back unchanged."""
        known = {a.qbo_id for a in self.s.accounts}
        if preferences.fee_account_id in known or preferences.fee_account_id is None:
            return
        if workflow.patched("reload-accounts-after-fee-account"):
            accounts: AccountsResult = await self._call(
                ConnectionActivities.load_accounts, PartnerRef(partner_id=self.s.partner_id),
                "reload accounts (fee account created)", QBO, step=False)
            self.s.accounts = accounts.accounts

    async def _disconnect(self, request: DisconnectRequest) -> None:
        self.s.disconnect_requested = True
        async with self.lock:
            try:
                await self._call(ConnectionActivities.revoke_connection, PartnerRef(partner_id=self.s.partner_id),
                                 f"disconnect: {request.reason}", DB_ONLY, step=False)
            except ActivityError:
                self.s.disconnect_requested = False
                raise
            self.s.state = IntegrationState.DISCONNECTED
            self.s.step = "disconnected"
            self._upsert_search_attributes()

    # --- plumbing ------------------------------------------------------------------------------------

    async def _call(self, activity, arg, what: str, policy, *, step: bool = True):
        """Run one activity with its policy and a readable summary for the Temporal UI."""
        if step:
            if self.s.disconnect_requested:
                raise Disconnected()
            self.s.step = what
        return await workflow.execute_activity_method(
            activity, arg, summary=f"partner {self.s.partner_id}: {what}", **policy)

    async def _set_state(self, state: IntegrationState, last_error: str | None = None) -> None:
        self.s.state = state
        if last_error is not None:
            self.s.last_error = last_error
        self.s.step = state.value
        self._upsert_search_attributes()
        await workflow.execute_activity_method(
            ConnectionActivities.set_connection_state,
            ConnectionStateInput(partner_id=self.s.partner_id, state=state, last_error=last_error),
            summary=f"partner {self.s.partner_id}: state → {state.value}", **DB_ONLY)

    def _upsert_search_attributes(self) -> None:
        workflow.upsert_search_attributes([
            sa.PARTNER_ID.value_set(self.s.partner_id),
            sa.REALM_ID.value_set(self.s.realm_id),
            sa.INTEGRATION_STATE.value_set(self.s.state.value),
        ])


def _describe(err: ActivityError) -> str:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type or 'error'}: {cause.message}"
    return str(cause or err)
