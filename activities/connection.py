"""Activities about the partner's QBO connection: verify the company, load accounts, preferences,
connection state and disconnect. Tokens are loaded inside the QBO client by partner id and never leave
this process: inputs and results carry ids and small facts only."""

from __future__ import annotations

import logging

import asyncpg
from temporalio import activity

from activities.accounts import ensure_fee_account
from activities.currency import currency_facts, read_currency_prefs
from activities.errors import qbo_failures
from qbo.client import QboApi
from qbo.models import Account
from rules.facts import AccountFacts
from rules.preferences import Preferences, default_preferences
from store.posting_repo import stored_preferences
from workflows.models import (
    AccountsResult,
    CompanyResult,
    ConnectionStateInput,
    PartnerRef,
    PreferencesInput,
)

log = logging.getLogger("activities.connection")


class ConnectionActivities:
    def __init__(self, pool: asyncpg.Pool, qbo: QboApi) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    @qbo_failures
    async def verify_company(self, ref: PartnerRef) -> CompanyResult:
        company = self.qbo.company(ref.partner_id)
        info = await company.company_info()
        name = info.CompanyName or info.LegalName or f"QBO company {company.realm_id}"
        await self.pool.execute(
            "UPDATE qbo_connections SET company_name = $2, updated_at = now() WHERE partner_id = $1",
            ref.partner_id, name)
        # Home currency and multicurrency are in Preferences, not CompanyInfo (qbo-reference §5.7, §15.5).
        await read_currency_prefs(self.pool, company, ref.partner_id)
        return CompanyResult(company_name=name, realm_id=company.realm_id or "",
                             currency=await currency_facts(self.pool, ref.partner_id))

    @activity.defn
    @qbo_failures
    async def load_accounts(self, ref: PartnerRef) -> AccountsResult:
        """Every account, active or not (the validator must tell "inactive" from "unknown"), into
        `qbo_accounts` for the dropdowns; the workflow keeps the small facts for its validator."""
        company = self.qbo.company(ref.partner_id)
        accounts: list[Account] = []
        async for page in company.query_pages("Account", include_inactive=True):
            accounts += [a for a in page.items if isinstance(a, Account)]
        facts = [_facts(a) for a in accounts]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM qbo_accounts WHERE partner_id = $1", ref.partner_id)
            await conn.executemany(
                "INSERT INTO qbo_accounts (partner_id, qbo_id, name, account_type, account_subtype, classification,"
                " active, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                [(ref.partner_id, a.Id, a.Name or "", a.AccountType or "", a.AccountSubType, a.Classification,
                  bool(a.Active if a.Active is not None else True), a.CurrencyRef.value if a.CurrencyRef else None)
                 for a in accounts])
        return AccountsResult(accounts=facts)

    @activity.defn
    @qbo_failures
    async def apply_default_preferences(self, ref: PartnerRef) -> Preferences:
        """The partner's preferences at onboarding: those they chose, when they reconnect the company they
        disconnected from (§5: a disconnect keeps the data, so deposits they turned on stay on), else the §4
        defaults. Connecting another company clears them first (store/connection_repo.py). The fee account
        is created in QBO when missing (found by name first, so a retry never creates a second one)."""
        prefs = await stored_preferences(self.pool, ref.partner_id)
        if prefs is None:
            prefs = default_preferences(await self._account_facts(ref.partner_id))
        if prefs.fee_account_id is None:
            prefs = prefs.model_copy(update={"fee_account_id": await self._ensure_fee_account(ref.partner_id)})
        await self._store_preferences(ref.partner_id, prefs)
        return prefs

    @activity.defn
    @qbo_failures
    async def save_preferences(self, input: PreferencesInput) -> Preferences:
        prefs = input.preferences
        if prefs.fee_account_id is None:
            prefs = prefs.model_copy(update={"fee_account_id": await self._ensure_fee_account(input.partner_id)})
        await self._store_preferences(input.partner_id, prefs)
        return prefs

    @activity.defn
    async def set_connection_state(self, input: ConnectionStateInput) -> None:
        await self.pool.execute(
            "UPDATE qbo_connections SET state = $2, last_error = COALESCE($3, last_error), updated_at = now()"
            " WHERE partner_id = $1 AND state <> 'disconnected'",
            input.partner_id, input.state.value, input.last_error)

    @activity.defn
    @qbo_failures
    async def revoke_connection(self, ref: PartnerRef) -> None:
        """Revoke the tokens at Intuit and forget them; the partner's data and preferences stay."""
        await self.qbo.tokens.disconnect(ref.partner_id)

    # --- helpers -------------------------------------------------------------------------------------

    async def _account_facts(self, partner_id: str) -> list[AccountFacts]:
        rows = await self.pool.fetch(
            "SELECT qbo_id, name, account_type, account_subtype, active, currency FROM qbo_accounts"
            " WHERE partner_id = $1", partner_id)
        return [AccountFacts(qbo_id=r["qbo_id"], name=r["name"], account_type=r["account_type"],
                             account_subtype=r["account_subtype"], active=r["active"],
                             currency=r["currency"].strip() if r["currency"] else None) for r in rows]

    async def _ensure_fee_account(self, partner_id: str) -> str:
        account_id = await ensure_fee_account(self.qbo.company(partner_id))
        log.info("fee account %s for partner %s", account_id, partner_id)
        return account_id

    async def _store_preferences(self, partner_id: str, prefs: Preferences) -> None:
        await self.pool.execute(
            "UPDATE qbo_connections SET preferences = $2, updated_at = now() WHERE partner_id = $1",
            partner_id, prefs.model_dump(mode="json"))


def _facts(account: Account) -> AccountFacts:
    return AccountFacts(qbo_id=account.Id, name=account.Name or "", account_type=account.AccountType or "",
                        account_subtype=account.AccountSubType, active=account.Active is not False,
                        currency=account.CurrencyRef.value if account.CurrencyRef else None)


