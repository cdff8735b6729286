"""`qbo.jsonio.dumps` writes exactly what `json.dumps` would (compact, ensure_ascii=False) for every value
without money, and Decimal money exactly: the fast scalar path must not change a byte of what is stored."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from hypothesis import given
from hypothesis import strategies as st

from qbo.jsonio import dumps, loads

scalars = st.none() | st.booleans() | st.integers() | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_same_bytes_as_json_dumps(value) -> None:
    assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2))
def test_decimals_round_trip_exactly(amount: Decimal) -> None:
    assert loads(dumps({"Amount": amount})) == {"Amount": amount}


def test_enums_dates_and_awkward_strings() -> None:
    class Kind(StrEnum):
        A = 'é"\\\n\x00'

    class Num(IntEnum):
        FIVE = 5

    body = {
        Kind.A: [Kind.A, Num.FIVE, True, None],
        "d": date(2024, 1, 2),
        "t": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    assert dumps(body) == (
        '{"é\\"\\\\\\n\\u0000":["é\\"\\\\\\n\\u0000",5,true,null],"d":"2024-01-02",'
        '"t":"2024-01-02T03:04:05+00:00"}'
    )
