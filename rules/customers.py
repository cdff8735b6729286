"""Customer rules, QBO → platform (PRODUCT.md §3 rows 1–2; qbo-reference §5.2).

- Identity is the QBO Id only, never DisplayName.
- Created or changed in QBO → created or updated (`source=qbo`).
- QBO "deletes" a customer by making it inactive → archived, never deleted; reactivated → unarchived.
  `archived` of a QBO-sourced customer mirrors QBO (`not Active`, or a tombstone), which is what makes
  out-of-order delivery converge: the result depends only on the newest version, not on the path.
- SyncToken lower than stored → ignored as stale; equal → no change; a tombstone is final.
- Platform-created customers are never touched.
"""

from __future__ import annotations

from typing import Literal

from rules.decisions import DecisionBase, SyncAction, not_newer, not_ours_to_change, tombstone_changes_nothing
from rules.facts import Frozen, PlatformCustomer, QboCustomerFacts, QboTombstone
from rules.values import Instant, QboId


class CustomerState(Frozen):
    """The full `customers` row values QBO determines (the caller adds id, partner, realm, timestamps)."""

    source: Literal["qbo"] = "qbo"
    qbo_id: QboId
    qbo_sync_token: int | None
    qbo_updated_at: Instant | None
    name: str
    email: str | None
    archived: bool
    qbo_active: bool
    qbo_deleted: bool


class CustomerDecision(DecisionBase):
    entity: str = "Customer"
    state: CustomerState | None = None


def decide_customer(
    platform: PlatformCustomer | None, change: QboCustomerFacts | QboTombstone
) -> CustomerDecision:
    """Decide what one QBO customer change does to the platform row with the same QBO Id (or to none)."""
    if (skipped := not_ours_to_change(platform, change, CustomerDecision, "customer")) is not None:
        return skipped
    if isinstance(change, QboTombstone):
        return _decide_tombstone(platform, change)
    if platform is None:
        return CustomerDecision(
            action=SyncAction.CREATE, qbo_id=change.qbo_id, sync_token=change.sync_token,
            state=_state_from(change),
        )
    if (unchanged := not_newer(platform, change, CustomerDecision)) is not None:
        return unchanged
    state = _state_from(change)
    if state.archived and not platform.archived:
        action, reason = SyncAction.ARCHIVE, "made inactive in QBO"
    elif platform.archived and not state.archived:
        action, reason = SyncAction.UNARCHIVE, "reactivated in QBO"
    else:
        action, reason = SyncAction.UPDATE, None
    return CustomerDecision(
        action=action, qbo_id=change.qbo_id, sync_token=change.sync_token, state=state, reason=reason
    )


def _state_from(change: QboCustomerFacts) -> CustomerState:
    return CustomerState(
        qbo_id=change.qbo_id,
        qbo_sync_token=change.sync_token,
        qbo_updated_at=change.last_updated,
        name=change.display_name,
        email=change.email,
        archived=not change.active,
        qbo_active=change.active,
        qbo_deleted=False,
    )


def _decide_tombstone(platform: PlatformCustomer | None, change: QboTombstone) -> CustomerDecision:
    if (nothing := tombstone_changes_nothing(platform, change, CustomerDecision)) is not None:
        return nothing
    assert platform is not None  # tombstone_changes_nothing answered for a row the platform never saw
    assert platform.qbo_id is not None  # source=qbo rows always have one (CHECK in 0001_platform.sql)
    state = CustomerState(
        qbo_id=platform.qbo_id,
        qbo_sync_token=platform.qbo_sync_token,
        qbo_updated_at=change.last_updated or platform.qbo_updated_at,
        name=platform.name,
        email=platform.email,
        archived=True,
        qbo_active=False,
        qbo_deleted=True,
    )
    return CustomerDecision(
        action=SyncAction.ARCHIVE, qbo_id=change.qbo_id, state=state,
        reason="deleted in QBO: archived, never deleted (§3)",
    )

