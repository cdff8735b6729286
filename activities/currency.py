"""The company's currency preferences (PRODUCT.md §4 "Currency", docs/currency.md): read from QBO at
onboarding, on every full sweep and after a `Preferences` webhook; kept on `qbo_connections`; handed to the
workflow as `CurrencyFacts` for the preference validator."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qbo.client import QboCompany
from rules import BadQboPayload
from rules.facts import CurrencyFacts, parse_currency_prefs
from store import sync_repo as repo

log = logging.getLogger("activities.currency")


async def read_currency_prefs(pool: Any, company: QboCompany, partner_id: str) -> tuple[str, bool]:
    """One `GET …/preferences`, stored. An unreadable CurrencyPrefs is logged and read as USD/off, the
    behaviour before multicurrency was read at all, rather than stopping the sync."""
    raw = await company.preferences()
    try:
        home, multi = parse_currency_prefs(raw)
    except BadQboPayload as exc:
        log.warning("partner %s: unreadable Preferences.CurrencyPrefs (%s); reading as USD", partner_id, exc)
        home, multi = "USD", False
    await repo.save_currency_prefs(pool, partner_id, home, multi)
    return home, multi


async def currency_facts(pool: Any, partner_id: str) -> CurrencyFacts | None:
    """What the workflow's preference validator needs; None while the company's preferences are unread."""
    conn = await repo.load_connection(pool, partner_id)
    if conn.home_currency is None:
        return None
    return facts_of(conn, await repo.invoice_currencies(pool, partner_id, conn.realm_id))


def facts_of(conn: repo.Connection, invoice_currencies: Sequence[str]) -> CurrencyFacts | None:
    """`currency_facts` from a connection and its invoices' currencies already read."""
    if conn.home_currency is None:
        return None
    return CurrencyFacts(home_currency=conn.home_currency, multicurrency=conn.multicurrency,
                         invoice_currencies=tuple(invoice_currencies))
