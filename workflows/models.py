"""Contracts between the workflow, its activities and its callers: small pydantic models, no I/O.

One model per workflow input, message and activity call, so fields can be added without breaking
histories. Nothing here carries a token or a page of QBO data: only ids, counts, cursors and summaries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from rules.facts import AccountFacts, CurrencyFacts
from rules.preferences import Preferences


class IntegrationState(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


class Progress(BaseModel):
    done: int = 0
    total: int | None = None


class Requests(BaseModel):
    """What the workflow's messages asked for and its loop has not acted on yet (workflows/lifecycle.py
    decides what the loop does about them). Carried across continue-as-new: a `sync_now` that woke the
    loop just before it continued as new is acted on by the next run."""

    sync: bool = False
    sync_trigger: str = "interval"  # why the next cycle runs (`qbo_sync_cycles_total`'s label)
    reconnect: bool = False
    disconnect: bool = False  # a disconnect is in progress; withdrawn when it fails
    reconcile: bool = False

    def sync_for(self, trigger: str) -> None:
        self.sync, self.sync_trigger = True, trigger

    def sync_now(self) -> None:
        """A second `sync_now` before the cycle ran changes nothing (not even the trigger)."""
        if not self.sync:
            self.sync_for("sync_now")

    def take_cycle(self) -> tuple[str, bool]:
        """The cycle starting now takes the sync and reconciliation requests: (trigger, reconcile). Taken up
        front, so a failing cycle does not keep the loop awake; a reconciliation run waiting in PostgreSQL
        is seen again by the next fetch (`FetchResult.reconcile_requested`)."""
        taken = self.sync_trigger, self.reconcile
        self.sync = self.reconcile = False
        self.sync_trigger = "interval"
        return taken


# The request flags were PartnerState fields before `Requests`; a run continued as new by an older worker
# carries them there.
_FLAT_REQUESTS = {"sync_requested": "sync", "sync_trigger": "sync_trigger", "reconnect_requested": "reconnect",
                  "disconnect_requested": "disconnect", "reconcile_requested": "reconcile"}


class PartnerState(BaseModel):
    """Everything the next run needs; carried across continue-as-new."""

    partner_id: str
    realm_id: str
    state: IntegrationState = IntegrationState.ONBOARDING
    step: str = "starting"
    company_name: str | None = None
    accounts: list[AccountFacts] = Field(default_factory=list)
    preferences: Preferences | None = None
    currency: CurrencyFacts | None = None  # for the preference validator (docs/currency.md); None: unread
    onboarded: bool = False
    backfill: dict[str, Progress] = Field(default_factory=dict)
    last_sync_at: datetime | None = None
    last_full_sweep_at: datetime | None = None
    last_sync_at_searchable: datetime | None = None  # the LastSyncAt search attribute's value (workflows/cycle.py)
    counts: dict[str, int] = Field(default_factory=dict)
    last_error: str | None = None
    pending_postings: int = 0
    cycles: int = 0
    requests: Requests = Field(default_factory=Requests)

    @model_validator(mode="before")
    @classmethod
    def _requests_of_older_runs(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(old in data for old in _FLAT_REQUESTS):
            data = dict(data)
            data["requests"] = {new: data.pop(old) for old, new in _FLAT_REQUESTS.items() if old in data}
        return data


class PartnerWorkflowInput(BaseModel):
    partner_id: str
    realm_id: str
    sync_interval_seconds: int = 300
    state: PartnerState | None = None  # set on continue-as-new


class BackfillStatus(BaseModel):
    done: int
    total: int | None


class PartnerStatus(BaseModel):
    """What the `status` query returns to the dashboard (PRODUCT.md §5, §6)."""

    partner_id: str
    realm_id: str
    state: IntegrationState
    step: str
    company_name: str | None
    backfill: BackfillStatus
    last_sync_at: datetime | None
    counts: dict[str, int]
    last_error: str | None
    pending_postings: int
    preferences: Preferences | None


class DisconnectRequest(BaseModel):
    reason: str = "requested from the dashboard"


# --- activity inputs and results ----------------------------------------------------------------------

class PartnerRef(BaseModel):
    partner_id: str


class CompanyResult(BaseModel):
    company_name: str
    realm_id: str
    currency: CurrencyFacts | None = None  # Preferences.CurrencyPrefs, read with the company


class AccountsResult(BaseModel):
    accounts: list[AccountFacts]


class PreferencesInput(BaseModel):
    partner_id: str
    preferences: Preferences


class ConnectionStateInput(BaseModel):
    partner_id: str
    state: IntegrationState
    last_error: str | None = None


class BackfillInput(BaseModel):
    partner_id: str
    entity: str  # "Customer" | "Invoice"
    # Pages per activity: each chunk restarts the fetch-ahead pipeline and costs a round trip through
    # Temporal, so chunks are long (20 pages: seconds, heartbeating per page); a crash redoes one page at most.
    max_pages: int = 20


class BackfillChunk(BaseModel):
    entity: str
    staged: int  # left in qbo_staging for apply_staged
    applied: int = 0  # new objects decided and inserted with their page (activities/sync.py, backfill)
    fetched_total: int
    total: int | None
    finished: bool


class SyncRunStart(BaseModel):
    partner_id: str
    trigger: str
    full_sweep: bool = False
    # The workflow takes a small apply from fetch (`FetchResult.applied`): sent under the
    # "cycle-applies-in-fetch" patch only, so a run recorded before it gets the results it was built on.
    apply_small_changes: bool = False


class ApplyInput(BaseModel):
    partner_id: str
    sync_run_id: int | None = None


class ApplySummary(BaseModel):
    created: int = 0
    updated: int = 0
    archived: int = 0
    unarchived: int = 0
    voided: int = 0
    conflicts: int = 0
    stale: int = 0
    unchanged: int = 0
    postings_changed_in_qbo: int = 0  # our own Payments/Deposits deleted, voided or edited in QBO
    remaining: int = 0


class FetchResult(BaseModel):
    """Counts only: the changes themselves wait in `qbo_staging`."""

    sync_run_id: int
    staged: int
    accounts_changed: bool = False
    pending_payments: int = 0
    pending_payouts: int = 0
    cursor: datetime | None = None
    reconcile_requested: bool = False  # a reconciliation run waits (its signal may have been lost)
    currency: CurrencyFacts | None = None  # home currency, multicurrency, the partner's invoice currencies
    # What fetch applied itself (asked to by `apply_small_changes`, and few enough changes waiting); None:
    # the changes wait for `apply_staged`, as they always did.
    applied: ApplySummary | None = None
    # Fetch recorded the run with `cycle_counts(staged, applied)`: the workflow records it again only if the
    # cycle added counts (postings, a reconciliation).
    run_finished: bool = False


def cycle_counts(staged: int, applied: ApplySummary | None) -> dict[str, int]:
    """A cycle's counts after fetch and apply, as its sync run and the `status` query record them: the new
    versions staged, and every apply count that is not zero. One function for the workflow and for fetch
    when it records the run itself, so both record the same."""
    counts = {"staged": staged}
    if applied is not None:
        counts |= {k: v for k, v in applied.model_dump().items() if v}
    return counts


class PostingInput(BaseModel):
    partner_id: str
    sync_run_id: int | None = None


class PostingSummary(BaseModel):
    posted: int = 0
    needs_attention: int = 0
    remaining: int = 0
    qbo_calls: int = 0
    refunds_booked: int = 0  # refunds and chargebacks booked in QBO by this run (activities/refunds.py)
    refunds_needs_attention: int = 0


class DepositSummary(BaseModel):
    deposited: int = 0
    waiting: int = 0
    needs_attention: int = 0


class FinishSyncRun(BaseModel):
    partner_id: str
    sync_run_id: int
    counts: dict[str, int]
    error: str | None = None


class ReconcileSummary(BaseModel):
    """What a reconciliation run found, in counts (the report itself is in `reconciliation_runs`)."""

    run_id: int | None = None
    mismatches: int = 0
    qbo_calls: int = 0
