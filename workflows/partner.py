"""PartnerIntegrationWorkflow: one long-running entity workflow per partner (PRODUCT.md §5).

Shape (temporal-notes §0.6, samples-python `safe_message_handlers`): all state in one `PartnerState`
built in `@workflow.init` (what messages asked for in its `requests`); handlers that await are serialised
by a lock; handlers are drained before continue-as-new and before completing. The main loop takes the
steps workflows/lifecycle.py decides (the state machine, pure and tested on its own); a sync cycle's steps
are in workflows/cycle.py, mixed in. The workflow only
decides *what* to do next; activities do the I/O and keep QBO data in PostgreSQL, so history holds ids,
counts and cursors, never a page of QBO data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.connection import ConnectionActivities
    from activities.sync import SyncActivities
    from rules.entities import BACKFILL_ORDER
    from rules.preferences import Preferences, validate_preferences
    from workflows import lifecycle, search_attributes
    from workflows.cycle import SyncCycle
    from workflows.lifecycle import Phase, Step
    from workflows.models import (
        ApplyInput,
        BackfillInput,
        ConnectionStateInput,
        DisconnectRequest,
        IntegrationState,
        PartnerRef,
        PartnerState,
        PartnerStatus,
        PartnerWorkflowInput,
        PreferencesInput,
        Progress,
        Requests,
    )
    from workflows.policies import DB_ONLY, LONG_QBO, QBO, describe_failure, is_auth_failure

# Continue-as-new after this many cycles even if the server never suggests it (the time-skipping test
# server doesn't): ~12 events per idle cycle keeps every run well under the 4,096-event suggestion.
MAX_CYCLES_PER_RUN = 250
BACKFILL_ENTITIES = BACKFILL_ORDER  # declared with the entities (rules/entities.py)

ActivitiesT = TypeVar("ActivitiesT")
ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class Disconnected(Exception):
    """Raised inside a cycle when a disconnect arrived: stop quietly, the handler does the rest."""


@workflow.defn
class PartnerIntegrationWorkflow(SyncCycle):
    @workflow.init
    def __init__(self, input: PartnerWorkflowInput) -> None:
        self.partner = input.state or PartnerState(partner_id=input.partner_id, realm_id=input.realm_id)
        self.interval = timedelta(seconds=input.sync_interval_seconds)
        self.lock = asyncio.Lock()
        self.cycles_this_run = 0

    # --- main loop -----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PartnerWorkflowInput) -> PartnerStatus:
        """Take the steps workflows/lifecycle.py decides, one at a time, until the partner is disconnected."""
        self._upsert_search_attributes()
        phase, checked = Phase.ROUND, False
        while (step := lifecycle.next_step(self._view(phase, checked))) is not Step.STOP:
            await self._take(step)
            phase, checked = lifecycle.PHASE_AFTER.get(step, phase), step is Step.AWAIT_DISCONNECT
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _view(self, phase: Phase, disconnect_checked: bool) -> lifecycle.LoopView:
        return lifecycle.LoopView(
            state=self.partner.state, onboarded=self.partner.onboarded, disconnecting=self.requests.disconnect,
            phase=phase, disconnect_checked=disconnect_checked, continue_as_new_due=self._should_continue_as_new())

    async def _take(self, step: Step) -> None:
        requests = self.requests
        if step is Step.AWAIT_DISCONNECT:  # a revoke that fails for good leaves the partner connected
            await workflow.wait_condition(lambda: lifecycle.disconnect_settled(self.partner.state, requests))
        elif step is Step.AWAIT_RECONNECT:
            await self._await_reconnect()
        elif step is Step.RESUME:
            await self._resume_after_reconnect()
        elif step is Step.SLEEP:
            await self._sleep_until_woken()
        elif step is Step.CONTINUE_AS_NEW:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(PartnerWorkflowInput(
                partner_id=self.partner.partner_id, realm_id=self.partner.realm_id,
                sync_interval_seconds=int(self.interval.total_seconds()), state=self.partner))
        elif step is Step.ONBOARD or step is Step.CYCLE:
            await self._guarded(self._onboard if step is Step.ONBOARD else self._sync_cycle)
        # ONBOARDING_DUE, NEW_ROUND: nothing to do, only the phase moves

    @property
    def requests(self) -> Requests:
        return self.partner.requests

    async def _await_reconnect(self) -> None:
        """needs_reconnect: wait for `reconnected`, or for a disconnect that succeeds. A disconnect that fails
        leaves the partner waiting for a reconnect (patched): resuming would sync with the dead tokens."""
        while True:
            await workflow.wait_condition(lambda: lifecycle.reconnect_answered(self.requests))
            if not await self._only_a_failed_disconnect(lambda: not self.requests.reconnect):
                return

    async def _sleep_until_woken(self) -> None:
        """Wait for the interval, or less when a message needs the loop (sync_now, reconnect, disconnect). A
        disconnect that fails woke the loop for nothing: it sleeps on until the same deadline (patched)."""
        deadline = workflow.now() + self.interval
        timeout = self.interval
        while True:
            try:
                await workflow.wait_condition(lambda: lifecycle.wakes(self.requests, self._should_continue_as_new()),
                                              timeout=timeout, timeout_summary="next scheduled sync")
            except TimeoutError:
                self._take_reconnect_while_active()
                return  # the interval elapsed: a scheduled cycle
            self._take_reconnect_while_active()
            if not await self._only_a_failed_disconnect(
                    lambda: workflow.now() < deadline
                    and not lifecycle.wakes(self.requests, self._should_continue_as_new())):
                return
            timeout = deadline - workflow.now()

    def _take_reconnect_while_active(self) -> None:
        if self.requests.reconnect and workflow.patched("reconnect-while-active"):
            # A reconnect while the connection works (new tokens from the dashboard): one cycle, then
            # back to sleep. Leaving the request in place would keep `wakes` true and spin the loop.
            self.requests.reconnect = False
            self.requests.sync_for("reconnected")

    async def _only_a_failed_disconnect(self, nothing_else: Callable[[], bool]) -> bool:
        """Whether the wait just ended was ended by a disconnect alone, which then failed: wait for the
        outcome of a disconnect in progress; true when it failed, `nothing_else` still holds (no other
        message needs the loop) and the run takes the `failed-disconnect-keeps-waiting` path. Runs from
        before the patch went on as if woken (a cycle at once; in needs_reconnect, a resume with the dead
        tokens): they replay that way. Waiting here emits no command, as the loop's AWAIT_DISCONNECT did."""
        if not self.requests.disconnect:
            return False
        await workflow.wait_condition(lambda: lifecycle.disconnect_settled(self.partner.state, self.requests))
        return (self.partner.state is not IntegrationState.DISCONNECTED and nothing_else()
                and workflow.patched("failed-disconnect-keeps-waiting"))

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested() or self.cycles_this_run >= MAX_CYCLES_PER_RUN

    async def _guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run onboarding or a cycle; turn auth failures into `needs_reconnect`, others into last_error."""
        try:
            await step()
        except Disconnected:
            pass
        except ActivityError as err:
            if self.requests.disconnect:
                return
            if is_auth_failure(err):
                await self._set_state(IntegrationState.NEEDS_RECONNECT, last_error=describe_failure(err))
                return
            self.partner.last_error = describe_failure(err)
            workflow.logger.warning("partner %s: %s failed: %s", self.partner.partner_id, self.partner.step, self.partner.last_error)

    async def _resume_after_reconnect(self) -> None:
        self.requests.reconnect = False
        await self._set_state(IntegrationState.ACTIVE if self.partner.onboarded else IntegrationState.ONBOARDING)
        self.partner.last_error = None
        self.requests.sync_for("reconnected")

    # --- onboarding ----------------------------------------------------------------------------------

    async def _onboard(self) -> None:
        ref = PartnerRef(partner_id=self.partner.partner_id)
        company = await self._call(ConnectionActivities.verify_company, ref, "verify company", QBO)
        self.partner.company_name = company.company_name
        if company.currency is not None:  # absent from results recorded before currencies were read
            self.partner.currency = company.currency
        accounts = await self._call(ConnectionActivities.load_accounts, ref, "load accounts", QBO)
        self.partner.accounts = accounts.accounts
        await self._default_preferences_serialised(ref)
        for entity in BACKFILL_ENTITIES:
            await self._backfill(entity)
        self.partner.onboarded = True
        await self._set_state(IntegrationState.ACTIVE)
        self.requests.sync_for("onboarding")

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
        if self.partner.preferences is None:
            self.partner.preferences = await self._call(
                ConnectionActivities.apply_default_preferences, ref, "apply default preferences", QBO)
            await self._reload_accounts_if_unknown(self.partner.preferences)

    async def _backfill(self, entity: str) -> None:
        """Page through one entity in chunks; each chunk is staged, then applied. Resumable after a crash:
        the activities keep the next page position in PostgreSQL."""
        progress = self.partner.backfill.setdefault(entity, Progress())
        while True:
            chunk = await self._call(SyncActivities.backfill_chunk,
                                     BackfillInput(partner_id=self.partner.partner_id, entity=entity),
                                     f"backfill {entity}s (page after {progress.done})", LONG_QBO)
            if chunk.staged:
                await self._call(SyncActivities.apply_staged, ApplyInput(partner_id=self.partner.partner_id),
                                 f"apply {chunk.staged} staged {entity}s", DB_ONLY)
            progress.done, progress.total = chunk.fetched_total, chunk.total
            if chunk.finished:
                return

    # --- messages ------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> PartnerStatus:
        done = sum(p.done for p in self.partner.backfill.values())
        totals = [p.total for p in self.partner.backfill.values() if p.total is not None]
        counted = len(totals) == len(self.partner.backfill) == len(BACKFILL_ENTITIES)  # every entity counted
        total = sum(totals) if counted else None
        return PartnerStatus(
            partner_id=self.partner.partner_id, realm_id=self.partner.realm_id, state=self.partner.state, step=self.partner.step,
            company_name=self.partner.company_name, backfill={"done": done, "total": total},
            last_sync_at=self.partner.last_sync_at, counts=dict(self.partner.counts), last_error=self.partner.last_error,
            pending_postings=self.partner.pending_postings, preferences=self.partner.preferences)

    @workflow.signal
    def sync_now(self) -> None:
        self.requests.sync_now()

    @workflow.signal
    def reconnected(self) -> None:
        self.requests.reconnect = True

    @workflow.signal
    def reconcile(self) -> None:
        """A reconciliation run was requested (its row waits in PostgreSQL): run it in the next cycle."""
        self.requests.reconcile = True

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
            self.partner.last_error = "preferences rejected: " + "; ".join(problems)
            return
        try:
            await self._apply_preferences(preferences)
        except ActivityError as err:  # a signal has no caller to fail: record it, never fail the workflow
            self.partner.last_error = "preferences not saved: " + describe_failure(err)

    @workflow.update
    async def disconnect(self, request: DisconnectRequest) -> PartnerStatus:
        await self._disconnect(request)
        return self.status()

    @disconnect.validator
    def _validate_disconnect(self, request: DisconnectRequest) -> None:
        if self.requests.disconnect:
            raise ValueError("already disconnected")

    @workflow.signal
    async def request_disconnect(self, request: DisconnectRequest) -> None:
        """Fire-and-forget twin of `disconnect`."""
        if self.requests.disconnect:
            self.partner.last_error = "disconnect ignored: already disconnected"
            return
        try:
            await self._disconnect(request)
        except ActivityError as err:
            self.partner.last_error = "disconnect: " + describe_failure(err)

    def _preference_problems(self, preferences: Preferences) -> list[str]:
        if self.requests.disconnect or self.partner.state is IntegrationState.DISCONNECTED:
            return ["the partner is disconnected"]
        if not self.partner.accounts:
            return ["the partner's QBO accounts are not loaded yet; try again once onboarding has verified the company"]
        return validate_preferences(preferences, self.partner.accounts, self.partner.currency)

    async def _apply_preferences(self, preferences: Preferences) -> Preferences:
        async with self.lock:
            applied = await self._call(
                ConnectionActivities.save_preferences,
                PreferencesInput(partner_id=self.partner.partner_id, preferences=preferences), "save preferences", QBO,
                step=False)
            self.partner.preferences = applied
            await self._reload_accounts_if_unknown(applied)
            self.requests.sync = self.requests.sync or applied.create_deposits
            return applied

    async def _reload_accounts_if_unknown(self, preferences: Preferences) -> None:
        """Saving preferences may create the fee account in QBO; the validator must know it from then on,
        or the dashboard could not send the applied preferences back unchanged."""
        known = {a.qbo_id for a in self.partner.accounts}
        if preferences.fee_account_id in known or preferences.fee_account_id is None:
            return
        if workflow.patched("reload-accounts-after-fee-account"):
            accounts = await self._call(
                ConnectionActivities.load_accounts, PartnerRef(partner_id=self.partner.partner_id),
                "reload accounts (fee account created)", QBO, step=False)
            self.partner.accounts = accounts.accounts

    async def _disconnect(self, request: DisconnectRequest) -> None:
        self.requests.disconnect = True
        async with self.lock:
            try:
                await self._call(ConnectionActivities.revoke_connection, PartnerRef(partner_id=self.partner.partner_id),
                                 f"disconnect: {request.reason}", DB_ONLY, step=False)
            except ActivityError:
                self.requests.disconnect = False
                raise
            self.partner.state = IntegrationState.DISCONNECTED
            self.partner.step = "disconnected"
            self._upsert_search_attributes()

    # --- plumbing ------------------------------------------------------------------------------------

    async def _call(self, activity: Callable[[ActivitiesT, ArgT], Awaitable[ResultT]], arg: ArgT, what: str,
                    config: workflow.ActivityConfig, *, step: bool = True) -> ResultT:
        """Run one activity with its options and a readable summary for the Temporal UI; typed by the
        activity method, so callers get its result type."""
        summary = self._begin(what, step)
        return await workflow.execute_activity_method(activity, arg, **(config | workflow.ActivityConfig(summary=summary)))

    async def _call_local(self, activity: Callable[[ActivitiesT, ArgT], Awaitable[ResultT]], arg: ArgT, what: str,
                          config: workflow.LocalActivityConfig) -> ResultT:
        """`_call` as a local activity: run by this worker inside the workflow task, recorded as a marker
        (the Temporal UI shows it with its summary). For short steps only (workflows/policies.py)."""
        summary = self._begin(what, True)
        try:
            return await workflow.execute_local_activity_method(
                activity, arg, **(config | workflow.LocalActivityConfig(summary=summary)))
        except ApplicationError as err:
            # A local activity's own failure arrives bare, where a regular activity's comes inside an
            # ActivityError (temporalio 1.35; a timeout does come wrapped): give `_guarded` the one shape.
            name = getattr(activity, "__name__", "")
            raise ActivityError(f"local activity {name} failed", scheduled_event_id=0, started_event_id=0,
                                identity="", activity_type=name, activity_id="", retry_state=None) from err

    def _begin(self, what: str, step: bool) -> str:
        """A step shows in `status` (stopped short when a disconnect arrived); its summary names the partner."""
        if step:
            if self.requests.disconnect:
                raise Disconnected()
            self.partner.step = what
        return f"partner {self.partner.partner_id}: {what}"

    async def _set_state(self, state: IntegrationState, last_error: str | None = None) -> None:
        self.partner.state = state
        if last_error is not None:
            self.partner.last_error = last_error
        self.partner.step = state.value
        self._upsert_search_attributes()
        await self._call(ConnectionActivities.set_connection_state,
                         ConnectionStateInput(partner_id=self.partner.partner_id, state=state, last_error=last_error),
                         f"state → {state.value}", DB_ONLY, step=False)

    def _upsert_search_attributes(self) -> None:
        workflow.upsert_search_attributes([
            search_attributes.PARTNER_ID.value_set(self.partner.partner_id),
            search_attributes.REALM_ID.value_set(self.partner.realm_id),
            search_attributes.INTEGRATION_STATE.value_set(self.partner.state.value),
        ])
