"""The query builder: escaping, explicit ordering and paging, inactive rows (qbo-reference §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from qbo import query as query_builder


def test_quote_is_escaped_with_backslash() -> None:
    # fx:query_customer_by_displayname_escaped_quote: 'Amy\'s Bird Sanctuary'
    assert query_builder.literal("Amy's Bird Sanctuary") == "'Amy\\'s Bird Sanctuary'"


def test_injection_stays_inside_the_literal() -> None:
    hostile = "x' AND Id > '0"
    clause = query_builder.condition("DisplayName", "=", hostile)
    assert clause == "DisplayName = 'x\\' AND Id > \\'0'"
    # a trailing backslash cannot swallow the closing quote
    assert query_builder.literal("ends with \\") == "'ends with \\\\'"
    assert query_builder.literal("\\' AND 1=1") == "'\\\\\\' AND 1=1'"


def test_values_by_type() -> None:
    assert query_builder.literal(True) == "true" and query_builder.literal(False) == "false"
    assert query_builder.literal(Decimal("300.00")) == "300.00" and query_builder.literal(7) == "7"
    assert query_builder.literal(None) == "' '"
    assert query_builder.literal(date(2024, 6, 1)) == "'2024-06-01'"
    pacific = timezone(timedelta(hours=-7))
    assert query_builder.literal(datetime(2024, 6, 1, tzinfo=pacific)) == "'2024-06-01T00:00:00-07:00'"
    with pytest.raises(ValueError):
        query_builder.literal(datetime(2024, 6, 1))  # no offset: ambiguous on a Pacific server
    with pytest.raises(TypeError):
        query_builder.literal(1.5)  # type: ignore[arg-type]


def test_select_has_explicit_order_and_paging() -> None:
    stmt = query_builder.select("Invoice", [("Balance", ">", Decimal("0"))], start_position=1001)
    assert stmt == "SELECT * FROM Invoice WHERE Balance > 0 ORDERBY Id ASC STARTPOSITION 1001 MAXRESULTS 1000"
    with pytest.raises(ValueError):
        query_builder.select("Invoice", max_results=1001)
    with pytest.raises(ValueError):
        query_builder.select("Invoice", start_position=0)


def test_inactive_rows_only_for_list_entities() -> None:
    assert "Active IN (true, false)" in query_builder.select("Customer", include_inactive=True)
    assert "Active" not in query_builder.select("Invoice", include_inactive=True)
    assert (
        query_builder.count("Customer", include_inactive=True)
        == "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    )


def test_in_and_like() -> None:
    assert query_builder.condition("Id", "in", ["1", "2"]) == "Id IN ('1', '2')"
    assert query_builder.condition("DisplayName", "LIKE", "Amy%") == "DisplayName LIKE 'Amy%'"
    with pytest.raises(ValueError):
        query_builder.condition("Id", "IN", [])


@pytest.mark.parametrize("field", ["Id; DROP", "Name'", "1Id", "a..b", ""])
def test_field_names_are_checked(field: str) -> None:
    with pytest.raises(ValueError):
        query_builder.condition(field, "=", "x")


@pytest.mark.parametrize("op", ["OR", "!=", "<>", "= 1 OR"])
def test_operators_are_checked(op: str) -> None:
    with pytest.raises(ValueError):
        query_builder.condition("Id", op, "1")


def test_entity_of() -> None:
    assert query_builder.entity_of("select * from SalesReceipt where TotalAmt > '300.00'") == "SalesReceipt"
    assert query_builder.entity_of(query_builder.count("Customer")) == "Customer"


def test_metadata_cursor_query() -> None:
    since = datetime(2024, 6, 1, 7, tzinfo=UTC)
    stmt = query_builder.select(
        "Customer",
        [("MetaData.LastUpdatedTime", ">=", since)],
        order_by="MetaData.LastUpdatedTime",
        include_inactive=True,
    )
    assert "WHERE MetaData.LastUpdatedTime >= '2024-06-01T07:00:00+00:00' AND Active IN (true, false)" in stmt
    assert "ORDERBY MetaData.LastUpdatedTime ASC" in stmt
