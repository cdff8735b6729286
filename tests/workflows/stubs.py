"""Test doubles for the workflow's activities (same names, no QBO, no SQL) so workflow logic can be
tested on the real Temporal server in isolation. The real activities are tested in their own suites."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from rules.facts import AccountFacts
from rules.preferences import Preferences
from workflows.models import (
    AccountsResult,
    ApplyInput,
    ApplySummary,
    BackfillChunk,
    BackfillInput,
    CompanyResult,
    ConnectionStateInput,
    DepositSummary,
    FetchResult,
    FinishSyncRun,
    PartnerRef,
    PostingInput,
    PostingSummary,
    PreferencesInput,
    ReconcileSummary,
    SyncRunStart,
)

ACCOUNTS = [
    AccountFacts(qbo_id="4", name="Undeposited Funds", account_type="Other Current Asset",
                 account_subtype="UndepositedFunds", active=True),
    AccountFacts(qbo_id="35", name="Checking", account_type="Bank", account_subtype="Checking", active=True),
    AccountFacts(qbo_id="36", name="Savings", account_type="Bank", account_subtype="Savings", active=True),
    AccountFacts(qbo_id="90", name="Alternative Payments Fees", account_type="Expense",
                 account_subtype="BankCharges", active=True),
    AccountFacts(qbo_id="91", name="Old Bank", account_type="Bank", account_subtype="Checking", active=False),
]
CREATED_FEE_ACCOUNT = AccountFacts(qbo_id="120", name="Alternative Payments Fees", account_type="Expense",
                                   account_subtype="BankCharges", active=True)


class StubActivities:
    """Counts calls; `auth_broken` makes every QBO-touching call fail like a revoked refresh token."""

    def __init__(self, backfill_pages: int = 2, pending_payments: int = 0, create_fee_account: bool = False):
        self.create_fee_account = create_fee_account
        self.fee_account_created = False
        self.calls: Counter[str] = Counter()
        self.auth_broken = False
        self.revoke_broken = False
        self.backfill_pages = backfill_pages
        self.pending_payments = pending_payments
        self.pages: Counter[str] = Counter()
        self.states: list[str] = []
        self.revoked: list[str] = []
        self.saved_preferences: list[Preferences] = []
        #: When set, apply_default_preferences waits for it (to hold onboarding at that step).
        self.defaults_gate: asyncio.Event | None = None
        #: When set, revoke_connection waits for it (to hold a disconnect in progress).
        self.revoke_gate: asyncio.Event | None = None
        #: When set, fetch_changes fails with it, like a QBO fault that is not about the tokens.
        self.fetch_error: str | None = None
        self.save_broken = False
        #: Accounts QBO has beyond ACCOUNTS; `accounts_changed` is reported by the next fetch (then reset).
        self.extra_accounts: list[AccountFacts] = []
        self.accounts_changed = False
        #: When set, fetch_changes waits for it (to hold a cycle at its first step).
        self.fetch_gate: asyncio.Event | None = None
        #: Payouts every fetch reports pending (create_deposits settles them all).
        self.pending_payouts = 0
        #: `full_sweep` of every fetch_changes call, in order (duplicates when Temporal retried one).
        self.full_sweeps: list[bool] = []
        #: New versions every fetch reports staged; when the workflow asks (`apply_small_changes`) and they
        #: are at most `apply_limit`, fetch applies them itself (each an update), as the real activity does.
        self.staged_per_fetch = 0
        self.apply_limit = 500
        #: The counts of every finish_sync_run call, in order.
        self.finished_runs: list[dict[str, int]] = []

    def _qbo(self, name: str) -> None:
        self.calls[name] += 1
        if self.auth_broken:
            raise ApplicationError("refresh token invalid (invalid_grant)", type="QboAuthError", non_retryable=True)

    @activity.defn(name="verify_company")
    async def verify_company(self, ref: PartnerRef) -> CompanyResult:
        self._qbo("verify_company")
        return CompanyResult(company_name="Stub Co", realm_id="1")

    @activity.defn(name="load_accounts")
    async def load_accounts(self, ref: PartnerRef) -> AccountsResult:
        self._qbo("load_accounts")
        return AccountsResult(accounts=ACCOUNTS + ([CREATED_FEE_ACCOUNT] if self.fee_account_created else [])
                              + self.extra_accounts)

    @activity.defn(name="apply_default_preferences")
    async def apply_default_preferences(self, ref: PartnerRef) -> Preferences:
        self._qbo("apply_default_preferences")
        if self.defaults_gate is not None:
            await self.defaults_gate.wait()
        if self.create_fee_account:  # as if QBO had no "Alternative Payments Fees" account yet
            self.fee_account_created = True
            return Preferences(payment_account_id="4", fee_account_id=CREATED_FEE_ACCOUNT.qbo_id)
        return Preferences(payment_account_id="4", fee_account_id="90")

    @activity.defn(name="save_preferences")
    async def save_preferences(self, input: PreferencesInput) -> Preferences:
        self.calls["save_preferences"] += 1
        if self.save_broken:
            raise ApplicationError("QBO refused to create the fee account", type="QboValidationError",
                                   non_retryable=True)
        self.saved_preferences.append(input.preferences)
        return input.preferences

    @activity.defn(name="set_connection_state")
    async def set_connection_state(self, input: ConnectionStateInput) -> None:
        self.calls["set_connection_state"] += 1
        self.states.append(input.state.value)

    @activity.defn(name="revoke_connection")
    async def revoke_connection(self, ref: PartnerRef) -> None:
        self.calls["revoke_connection"] += 1
        if self.revoke_gate is not None:
            await self.revoke_gate.wait()
        if self.revoke_broken:
            raise ApplicationError("Intuit's revoke endpoint keeps failing", type="RevokeFailed", non_retryable=True)
        self.revoked.append(ref.partner_id)

    @activity.defn(name="backfill_chunk")
    async def backfill_chunk(self, input: BackfillInput) -> BackfillChunk:
        self._qbo("backfill_chunk")
        self.pages[input.entity] += 1
        page = self.pages[input.entity]
        return BackfillChunk(entity=input.entity, staged=1000, fetched_total=1000 * page,
                             total=1000 * self.backfill_pages, finished=page >= self.backfill_pages)

    @activity.defn(name="fetch_changes")
    async def fetch_changes(self, input: SyncRunStart) -> FetchResult:
        self._qbo("fetch_changes")
        self.full_sweeps.append(input.full_sweep)
        if self.fetch_gate is not None:
            await self.fetch_gate.wait()
        if self.fetch_error is not None:
            raise ApplicationError(self.fetch_error, type="QboValidationError", non_retryable=True)
        changed, self.accounts_changed = self.accounts_changed, False
        staged, applied = self.staged_per_fetch, None
        if input.apply_small_changes and staged <= self.apply_limit:
            applied = ApplySummary(updated=staged)
            self.calls["applied_in_fetch"] += 1 if staged else 0
        finished = not self.pending_payments and not self.pending_payouts and (applied is not None or not staged)
        return FetchResult(sync_run_id=self.calls["fetch_changes"], staged=staged, pending_payments=self.pending_payments,
                           pending_payouts=self.pending_payouts, cursor=datetime(2026, 1, 1, tzinfo=UTC), accounts_changed=changed,
                           applied=applied, run_finished=finished)

    @activity.defn(name="apply_staged")
    async def apply_staged(self, input: ApplyInput) -> ApplySummary:
        self.calls["apply_staged"] += 1
        return ApplySummary(created=1000)

    @activity.defn(name="finish_sync_run")
    async def finish_sync_run(self, input: FinishSyncRun) -> None:
        self.calls["finish_sync_run"] += 1
        self.finished_runs.append(input.counts)

    @activity.defn(name="post_payments")
    async def post_payments(self, input: PostingInput) -> PostingSummary:
        self._qbo("post_payments")
        posted, self.pending_payments = self.pending_payments, 0
        return PostingSummary(posted=posted)

    @activity.defn(name="create_deposits")
    async def create_deposits(self, input: PostingInput) -> DepositSummary:
        self._qbo("create_deposits")
        self.pending_payouts = 0  # deposited, or settled not_synced when deposits are off
        return DepositSummary()

    @activity.defn(name="run_reconciliation")
    async def run_reconciliation(self, ref: PartnerRef) -> ReconcileSummary:
        self._qbo("run_reconciliation")
        return ReconcileSummary(run_id=self.calls["run_reconciliation"], mismatches=0, qbo_calls=3)

    def all(self) -> list:
        return [self.verify_company, self.load_accounts, self.apply_default_preferences, self.save_preferences,
                self.set_connection_state, self.revoke_connection, self.backfill_chunk, self.fetch_changes,
                self.apply_staged, self.finish_sync_run, self.post_payments, self.create_deposits,
                self.run_reconciliation]
