"""Building QBO query statements without injection (qbo-reference §3).

Values are never pasted into a statement by the caller: conditions are `(field, op, value)` tuples and
`literal()` writes each value. Inside a string literal a single quote is written `\\'` (§3 "Escaping",
fx:query_customer_by_displayname_escaped_quote); a backslash is doubled first, so a value ending in `\\`
cannot escape its closing quote. Field names and operators are checked against a small grammar.
Paging is explicit: `ORDERBY` always (the default order is undocumented), `STARTPOSITION` 1-based,
`MAXRESULTS` at most 1000.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

MAX_PAGE = 1000

#: Name-list entities whose inactive rows a query hides unless `Active IN (true,false)` (§3, §12 item 4).
LIST_ENTITIES = frozenset(
    {
        "Customer",
        "Account",
        "Item",
        "Vendor",
        "Employee",
        "PaymentMethod",
        "Class",
        "Department",
        "Term",
        "TaxCode",
    }
)

_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ENTITY = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_OPS = {"=", "<", ">", "<=", ">=", "IN", "LIKE"}

Value = str | bool | int | Decimal | date | datetime | None
Condition = tuple[str, str, "Value | Sequence[Value]"]


def literal(value: Value) -> str:
    """One value as QBO query text."""
    if value is None:
        return "' '"  # QBO writes NULL as one space in quotes (§3)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("query timestamps need an explicit offset (qbo-reference §3)")
        return "'" + value.isoformat(timespec="seconds") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    raise TypeError(f"cannot use {type(value).__name__} in a QBO query")


def _field(name: str) -> str:
    if not _FIELD.match(name):
        raise ValueError(f"not a QBO property name: {name!r}")
    return name


def _entity(name: str) -> str:
    if not _ENTITY.match(name):
        raise ValueError(f"not a QBO entity name: {name!r}")
    return name


def condition(field: str, op: str, value: Value | Sequence[Value]) -> str:
    op = op.upper().strip()
    if op not in _OPS:
        raise ValueError(f"operator {op!r} is not in the QBO query language")
    if op == "IN":
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError("IN needs a sequence of values")
        items = list(value)
        if not items:
            raise ValueError("IN needs at least one value")
        return f"{_field(field)} IN ({', '.join(literal(v) for v in items)})"
    return f"{_field(field)} {op} {literal(value)}"  # type: ignore[arg-type]


def where_clause(
    entity: str, where: Iterable[Condition] | None = None, *, include_inactive: bool = False
) -> str:
    parts = [condition(f, op, v) for f, op, v in (where or ())]
    if include_inactive and entity in LIST_ENTITIES:
        parts.append("Active IN (true, false)")
    return (" WHERE " + " AND ".join(parts)) if parts else ""


def select(
    entity: str,
    where: Iterable[Condition] | None = None,
    *,
    order_by: str = "Id",
    descending: bool = False,
    start_position: int = 1,
    max_results: int = MAX_PAGE,
    include_inactive: bool = False,
) -> str:
    """`SELECT * FROM E [WHERE …] ORDERBY f STARTPOSITION n MAXRESULTS m`."""
    if start_position < 1:
        raise ValueError("STARTPOSITION is 1-based")
    if not 1 <= max_results <= MAX_PAGE:
        raise ValueError(f"MAXRESULTS must be 1..{MAX_PAGE}")
    entity = _entity(entity)
    direction = " DESC" if descending else " ASC"
    return (
        f"SELECT * FROM {entity}{where_clause(entity, where, include_inactive=include_inactive)}"
        f" ORDERBY {_field(order_by)}{direction} STARTPOSITION {start_position} MAXRESULTS {max_results}"
    )


def count(entity: str, where: Iterable[Condition] | None = None, *, include_inactive: bool = False) -> str:
    entity = _entity(entity)
    return f"SELECT COUNT(*) FROM {entity}{where_clause(entity, where, include_inactive=include_inactive)}"


_FROM = re.compile(r"\bFROM\s+([A-Za-z][A-Za-z0-9]*)", re.IGNORECASE)


def entity_of(statement: str) -> str | None:
    """The entity a statement selects from (to find the result key in the QueryResponse)."""
    m = _FROM.search(statement)
    return m.group(1) if m else None
