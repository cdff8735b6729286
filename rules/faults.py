"""What a QBO fault on a posting write means for the item (PRODUCT.md §4 conflicts; qbo-reference §8.4).

Why a table: §4 says "retry what can succeed (re-read on 5010); record the rest as needs_attention with a
reason". Transport-level faults (throttling, 5xx, expired tokens) are the client's business and are
classified here only so a caller holding a batch item fault knows not to park the payment for them.
"""

from __future__ import annotations

from enum import StrEnum

from rules.facts import Frozen


class FaultAction(StrEnum):
    REREAD_AND_RETRY = "reread_and_retry"  # re-read the object (fresh SyncToken), re-apply, retry once
    RETRY_LATER = "retry_later"  # transient: leave the item pending, the activity retries
    REAUTHORIZE = "reauthorize"  # token problem: the workflow goes to needs_reconnect, item waits
    NEEDS_ATTENTION = "needs_attention"  # a person must act; never retried blindly


class FaultDecision(Frozen):
    action: FaultAction
    reason: str


# code → (action, reason for the sync log). Codes are strings on the wire (qbo-reference §8.1).
_TABLE: dict[str, tuple[FaultAction, str]] = {
    "5010": (FaultAction.REREAD_AND_RETRY, "stale object (5010): changed in QBO meanwhile"),
    "6540": (FaultAction.NEEDS_ATTENTION,
             "deposited transaction cannot be changed (6540): remove it from its QBO deposit first"),
    "610": (FaultAction.NEEDS_ATTENTION, "object not found in QBO (610): deleted, inactive or wrong Id"),
    "2500": (FaultAction.NEEDS_ATTENTION,
             "invalid reference (2500): an account, customer or invoice is missing or inactive in QBO"),
    "6000": (FaultAction.NEEDS_ATTENTION, "business validation error (6000)"),
    "6210": (FaultAction.NEEDS_ATTENTION, "accounting period closed in QBO (6210): change the closing date"),
    "6190": (FaultAction.NEEDS_ATTENTION, "QBO company subscription or billing problem (6190)"),
    "2010": (FaultAction.NEEDS_ATTENTION, "request has an unsupported property (2010): a bug to report"),
    "2020": (FaultAction.NEEDS_ATTENTION, "required parameter missing (2020): a bug to report"),
    "3001": (FaultAction.RETRY_LATER, "throttled by QBO (3001)"),
    "3200": (FaultAction.REAUTHORIZE, "access token expired or revoked (3200)"),
    "3100": (FaultAction.REAUTHORIZE, "application authorization failed (3100)"),
    "120": (FaultAction.REAUTHORIZE, "authorization failure (120)"),
}

MAX_STALE_RETRIES = 1  # qbo-reference §7.2: "re-read, re-apply the change, and retry once"


def classify_fault(code: str, *, detail: str | None = None, stale_retries_done: int = 0) -> FaultDecision:
    """Map a QBO fault code to what happens to the posting. 5010 is retried after a re-read at most
    `MAX_STALE_RETRIES` times, then parked; unknown codes are parked (never silently retried forever)."""
    action, reason = _TABLE.get(code.strip(), (FaultAction.NEEDS_ATTENTION, f"QBO fault {code}"))
    if action == FaultAction.REREAD_AND_RETRY and stale_retries_done >= MAX_STALE_RETRIES:
        action, reason = FaultAction.NEEDS_ATTENTION, reason + "; still stale after a re-read and retry"
    if detail:
        reason = f"{reason}: {detail[:500]}"
    return FaultDecision(action=action, reason=reason)
