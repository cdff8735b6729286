"""Decimal-exact JSON out, and the Temporal view of the exception hierarchy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from qbo import errors
from qbo.jsonio import dumps, loads


def test_decimals_written_as_exact_numbers() -> None:
    body = {"TotalAmt": Decimal("1675.52"), "Line": [{"Amount": Decimal("-62.50")}], "Name": "Amy's", "n": 3}
    text = dumps(body)
    assert text == '{"TotalAmt":1675.52,"Line":[{"Amount":-62.50}],"Name":"Amy\'s","n":3}'
    assert loads(text) == body
    assert dumps({"x": Decimal("1E+2")}) == '{"x":100}'
    with pytest.raises(TypeError):
        dumps({"Amount": 0.1})
    with pytest.raises(ValueError):
        dumps({"Amount": Decimal("NaN")})


def test_application_error_types_and_retryability() -> None:
    cases = {
        errors.QboAuthError("x"): True,
        errors.QboValidationError("x"): True,
        errors.QboNotFound("x"): True,
        errors.QboDuplicate("x"): True,
        errors.QboDeposited("x"): True,
        errors.QboCdcWindowTooOld("x"): True,
        errors.QboThrottled("x", retry_after=7): False,
        errors.QboServerError("x"): False,
        errors.QboTransportError("x"): False,
        errors.QboStaleObject("x"): False,
        errors.QboClientConfigError("x"): False,
    }
    for exc, non_retryable in cases.items():
        app = errors.to_application_error(exc)
        assert app.type == type(exc).__name__
        assert app.non_retryable is non_retryable, type(exc).__name__
    throttled = errors.to_application_error(errors.QboThrottled("x", retry_after=7))
    assert throttled.next_retry_delay == timedelta(seconds=7)
    assert "QboAuthError" in errors.NON_RETRYABLE_TYPES and "QboThrottled" not in errors.NON_RETRYABLE_TYPES


def test_errors_carry_qbo_facts_but_no_token() -> None:
    exc = errors.QboValidationError(
        "Invalid query",
        status=400,
        code="4001",
        detail="refresh_token=RT1-abcdefghijk and Bearer eyJabcdefghijk",
        element="Id",
        intuit_tid="1-abc",
    )
    text = str(exc) + repr(exc) + str(exc.to_dict()) + str(errors.to_application_error(exc))
    assert "RT1-abcdefghijk" not in text and "eyJabcdefghijk" not in text
    assert "4001" in text and "1-abc" in text and "element=Id" in text
