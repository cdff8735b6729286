"""Which QBO company a partner may connect to (PRODUCT.md §3 identity, §5 "Reconnect is to the same company
only"). Pure: the OAuth callback asks, the store carries out.

Why it matters: QBO ids are small per-company counters (qbo-reference §1), so invoice 130 of one company
is usually *some* invoice in another. A partner whose connection silently moved to another realm would
have its pending payments posted against unrelated invoices. A partner is therefore bound to one realm
while it is connected; moving to another company is an explicit disconnect followed by a fresh connect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Intuit realm ids (company ids) are decimal numbers, 9–20 digits in practice (e.g. 9130347596597895,
# 123146096291789); the callback's `realmId` is browser-editable, so anything else is refused.
_REALM = re.compile(r"[0-9]{1,20}")
LIVE_STATES = frozenset({"onboarding", "active", "needs_reconnect"})


class ConnectAction(StrEnum):
    CONNECT = "connect"  # no connection yet: onboard this realm
    RECONNECT = "reconnect"  # the same realm again (new tokens): keep everything
    SWITCH_COMPANY = "switch_company"  # disconnected from another realm: fresh onboarding, old records set aside
    REFUSE = "refuse"  # a live connection to another realm: realm_mismatch


@dataclass(frozen=True)
class ConnectDecision:
    action: ConnectAction
    reason: str | None = None


def valid_realm_id(realm_id: str | None) -> bool:
    return realm_id is not None and _REALM.fullmatch(realm_id) is not None


def decide_connect(current_state: str | None, current_realm: str | None, new_realm: str) -> ConnectDecision:
    """What an OAuth callback for `new_realm` may do to a partner whose connection is `current_*`
    (None: never connected)."""
    if current_state is None or current_realm is None:
        return ConnectDecision(ConnectAction.CONNECT)
    if current_realm == new_realm:
        return ConnectDecision(ConnectAction.RECONNECT)
    if current_state in LIVE_STATES:
        return ConnectDecision(ConnectAction.REFUSE, (
            f"this partner is connected to QuickBooks company {current_realm}, and the company chosen in "
            f"QuickBooks was {new_realm}. Reconnect to company {current_realm}, or disconnect first to move "
            "to another company."))
    return ConnectDecision(ConnectAction.SWITCH_COMPANY)
