"""The synced entities: one declaration per QBO entity the platform mirrors (issue 17, "one registry per
entity"). Everything that differs between a Customer and an Invoice on the way QBO → platform is here, and
every consumer reads it: the workflow's backfill list and its order (`BACKFILL_ORDER`), the CDC list
(activities/sync.py), the parser and the rule function apply calls, the platform table, the columns the
set-based insert/upsert writes and the snapshot query reads (store/sync_repo.py builds both from these
declarations). Adding an entity is one more `SyncedEntity` in `SYNCED`, with its facts, parser and
decide function beside the others in `rules/`.

Pure data and functions (no I/O): the SQL fragments below are the few places where an entity's platform
row is not just its state's fields (a foreign key resolved by QBO id; aggregates the rules read).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.customers import decide_customer
from rules.facts import (
    CUSTOMER_KEYS,
    INVOICE_KEYS,
    Change,
    Frozen,
    PlatformCustomer,
    PlatformInvoice,
    parse_customer,
    parse_invoice,
)
from rules.invoices import decide_invoice


@dataclass(frozen=True)
class Column:
    """One platform column written from the decision's state field of the same name.

    `update`: the `ON CONFLICT DO UPDATE` expression when it is not simply the incoming value."""

    name: str
    sql_type: str
    update: str | None = None


@dataclass(frozen=True)
class Reference:
    """A platform foreign key resolved in the write itself from a QBO id column: `column` = the id of the
    `table` row whose QBO id is the state's `via` (NULL until that row exists)."""

    column: str
    table: str
    via: str


@dataclass(frozen=True)
class SyncedEntity:
    name: str  # QBO's entity name: the query, the CDC list and the staging rows use it
    table: str  # the platform table; rows keyed (partner_id, realm_id, qbo_id)
    id_prefix: str  # platform ids are `<prefix>_<hash of the QBO identity>` (store.sync_repo.platform_id)
    # (staged QBO JSON, the company's home currency) → facts or tombstone; raises only BadQboPayload
    parse: Callable[[Any, str], Change]
    keys: frozenset[str]  # the top-level keys of the JSON `parse` reads; a dict of only these parses the same
    decide: Callable[[Any, Any], Any]  # (platform snapshot | None, newest change) → decision (PRODUCT §3)
    platform: type[Frozen]  # the snapshot the rules read: its fields are the columns selected
    columns: tuple[Column, ...]  # the state's fields written, in this order
    reference: Reference | None = None
    # Snapshot fields that are not columns of `table`: SQL over `aggregate_join`, grouped by the row.
    aggregates: tuple[tuple[str, str], ...] = ()
    aggregate_join: str = ""
    # Lock the rows before reading them (a concurrent writer of the same rows must wait, see
    # store/sync_repo.py `snapshots`).
    lock_snapshot: bool = False

    @property
    def snapshot_columns(self) -> tuple[str, ...]:
        aggregated = {name for name, _ in self.aggregates}
        return tuple(f for f in self.platform.model_fields if f not in aggregated)


_COMMON = (
    Column("qbo_id", "text"),
    Column("qbo_sync_token", "bigint"),
    Column("qbo_updated_at", "timestamptz"),
)

CUSTOMER = SyncedEntity(
    name="Customer",
    table="customers",
    id_prefix="cus",
    parse=lambda raw, home_currency: parse_customer(raw),
    keys=CUSTOMER_KEYS,
    decide=decide_customer,
    platform=PlatformCustomer,
    columns=(*_COMMON, Column("name", "text"), Column("email", "text"), Column("archived", "bool"),
             Column("qbo_active", "bool"), Column("qbo_deleted", "bool")),
)

INVOICE = SyncedEntity(
    name="Invoice",
    table="invoices",
    id_prefix="inv",
    # An invoice without CurrencyRef is in the company's home currency (qbo-reference §15.5).
    parse=lambda raw, home_currency: parse_invoice(raw, home_currency=home_currency),
    keys=INVOICE_KEYS,
    decide=decide_invoice,
    platform=PlatformInvoice,
    columns=(
        *_COMMON, Column("qbo_customer_id", "text"), Column("doc_number", "text"), Column("amount", "numeric"),
        Column("balance", "numeric"), Column("currency", "text"), Column("due_date", "date"),
        Column("status", "text"), Column("archived", "bool"), Column("qbo_deleted", "bool"),
        Column("exchange_rate", "numeric"),  # as QBO last sent it (issue 13, docs/currency.md)
        # None in a state means "keep what is stored" (a tombstone knows no QBO balance).
        Column("qbo_balance", "numeric", update="COALESCE(EXCLUDED.qbo_balance, t.qbo_balance)"),
        Column("qbo_total", "numeric", update="COALESCE(EXCLUDED.qbo_total, t.qbo_total)"),
    ),
    reference=Reference("customer_id", "customers", via="qbo_customer_id"),
    # PlatformInvoice's two aggregates (rules/facts.py). Not yet in QBO: pending or needs_attention, except
    # postings QBO had and a person removed or changed there (qbo_change, migration 0007): QBO's Balance
    # already tells the truth about those.
    aggregates=(
        ("unposted_payments_total", "COALESCE(sum(p.amount - p.netted_amount) FILTER (WHERE p.status IN ('pending', "
                                    "'needs_attention') AND p.qbo_change IS NULL), 0)"),
        ("has_platform_payments", "count(p.id) > 0"),
    ),
    aggregate_join="LEFT JOIN payments p ON p.invoice_id = t.id",
    lock_snapshot=True,
)

#: Backfill and apply order: an invoice resolves its customer by QBO id, so customers come first.
SYNCED: tuple[SyncedEntity, ...] = (CUSTOMER, INVOICE)
BY_NAME: dict[str, SyncedEntity] = {e.name: e for e in SYNCED}
BY_TABLE: dict[str, SyncedEntity] = {e.table: e for e in SYNCED}
BACKFILL_ORDER: tuple[str, ...] = tuple(e.name for e in SYNCED)
