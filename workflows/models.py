"""Contracts between the workflow, its activities and its callers: small pydantic models, no I/O.

One model per workflow input, message and activity call, so fields can be added without breaking
histories. Nothing here carries a token or a page of QBO data: only ids, counts, cursors and summaries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

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
    counts: dict[str, int] = Field(default_factory=dict)
    last_error: str | None = None
    pending_postings: int = 0
    cycles: int = 0
    sync_requested: bool = False
    sync_trigger: str = "interval"
    reconnect_requested: bool = False
    disconnect_requested: bool = False
    reconcile_requested: bool = False


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
    max_pages: int = 5


class BackfillChunk(BaseModel):
    entity: str
    staged: int
    fetched_total: int
    total: int | None
    finished: bool


class SyncRunStart(BaseModel):
    partner_id: str
    trigger: str
    full_sweep: bool = False


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
