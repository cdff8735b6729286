"""The query builder: escaping, explicit ordering and paging, inactive rows (qbo-reference §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qbo import query as q


def test_quote_is_escaped_with_backslash() -> None:
    # fx:query_customer_by_displayname_escaped_quote: 'Amy\'s Bird Sanctuary'
    assert q.literal("Amy's Bird Sanctuary") == "'Amy\\'s Bird Sanctuary'"


def test_injection_stays_inside_the_literal() -> None:
    hostile = "x' AND Id > '0"
    clause = q.condition("DisplayName", "=", hostile)
    assert clause == "DisplayName = 'x\\' AND Id > \\'0'"
    # a trailing backslash cannot swallow the closing quote
    assert q.literal("ends with \\") == "'ends with \\\\'"
    assert q.literal("\\' AND 1=1") == "'\\\\\\' AND 1=1'"


def test_values_by_type() -> None:
    assert q.literal(True) == "true" and q.literal(False) == "false"
    assert q.literal(Decimal("300.00")) == "300.00" and q.literal(7) == "7"
    assert q.literal(None) == "' '"
    assert q.literal(date(2024, 6, 1)) == "'2024-06-01'"
    pacific = timezone(timedelta(hours=-7))
    assert q.literal(datetime(2024, 6, 1, tzinfo=pacific)) == "'2024-06-01T00:00:00-07:00'"
    with pytest.raises(ValueError):
        q.literal(datetime(2024, 6, 1))  # no offset: ambiguous on a Pacific server
    with pytest.raises(TypeError):
        q.literal(1.5)  # type: ignore[arg-type]


def test_select_has_explicit_order_and_paging() -> None:
    stmt = q.select("Invoice", [("Balance", ">", Decimal("0"))], start_position=1001)
    assert stmt == "SELECT * FROM Invoice WHERE Balance > 0 ORDERBY Id ASC STARTPOSITION 1001 MAXRESULTS 1000"
    with pytest.raises(ValueError):
        q.select("Invoice", max_results=1001)
    with pytest.raises(ValueError):
        q.select("Invoice", start_position=0)


def test_inactive_rows_only_for_list_entities() -> None:
    assert "Active IN (true, false)" in q.select("Customer", include_inactive=True)
    assert "Active" not in q.select("Invoice", include_inactive=True)
    assert (
        q.count("Customer", include_inactive=True)
        == "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    )


def test_in_and_like() -> None:
    assert q.condition("Id", "in", ["1", "2"]) == "Id IN ('1', '2')"
    assert q.condition("DisplayName", "LIKE", "Amy%") == "DisplayName LIKE 'Amy%'"
    with pytest.raises(ValueError):
        q.condition("Id", "IN", [])


@pytest.mark.parametrize("field", ["Id; DROP", "Name'", "1Id", "a..b", ""])
def test_field_names_are_checked(field: str) -> None:
    with pytest.raises(ValueError):
        q.condition(field, "=", "x")


@pytest.mark.parametrize("op", ["OR", "!=", "<>", "= 1 OR"])
def test_operators_are_checked(op: str) -> None:
    with pytest.raises(ValueError):
        q.condition("Id", op, "1")


def test_entity_of() -> None:
    assert q.entity_of("select * from SalesReceipt where TotalAmt > '300.00'") == "SalesReceipt"
    assert q.entity_of(q.count("Customer")) == "Customer"


def test_metadata_cursor_query() -> None:
    since = datetime(2024, 6, 1, 7, tzinfo=UTC)
    stmt = q.select(
        "Customer",
        [("MetaData.LastUpdatedTime", ">=", since)],
        order_by="MetaData.LastUpdatedTime",
        include_inactive=True,
    )
    assert "WHERE MetaData.LastUpdatedTime >= '2024-06-01T07:00:00+00:00' AND Active IN (true, false)" in stmt
    assert "ORDERBY MetaData.LastUpdatedTime ASC" in stmt
