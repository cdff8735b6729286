"""Activities about the partner's QBO connection: verify the company, load accounts, preferences,
connection state and disconnect. Tokens are loaded here by partner id and never leave this process."""

from __future__ import annotations

from temporalio import activity

from rules.preferences import Preferences
from workflows.models import (
    AccountsResult,
    CompanyResult,
    ConnectionStateInput,
    PartnerRef,
    PreferencesInput,
)


class ConnectionActivities:
    def __init__(self, pool, qbo) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    async def verify_company(self, ref: PartnerRef) -> CompanyResult:
        raise NotImplementedError

    @activity.defn
    async def load_accounts(self, ref: PartnerRef) -> AccountsResult:
        raise NotImplementedError

    @activity.defn
    async def apply_default_preferences(self, ref: PartnerRef) -> Preferences:
        raise NotImplementedError

    @activity.defn
    async def save_preferences(self, input: PreferencesInput) -> Preferences:
        raise NotImplementedError

    @activity.defn
    async def set_connection_state(self, input: ConnectionStateInput) -> None:
        raise NotImplementedError

    @activity.defn
    async def revoke_connection(self, ref: PartnerRef) -> None:
        raise NotImplementedError
