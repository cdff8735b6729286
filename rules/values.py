"""Value types shared by every rule: money, instants, currencies, QBO ids and sync tokens.

Why a module of its own: PRODUCT.md §3 says money is `Decimal` end to end and timestamps are compared as
instants (UTC). Every model in `rules` uses these annotated types, so a float or a naive datetime cannot get
into a fact or a decision by accident, whoever builds it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# numeric(18, 2) in store/migrations/0001_platform.sql: 16 digits before the point.
_MONEY_LIMIT = Decimal("1e16")


def to_money(value: Any) -> Decimal:
    """Convert a JSON/DB amount to a Decimal with exactly two places, or raise ValueError.

    Accepts Decimal, int, str and (only as a last resort) float via `Decimal(str(x))`, so a binary float
    never does arithmetic. A value with non-zero digits past the cent is rejected rather than rounded:
    QBO sends amounts with two decimals (qbo-reference §2), so anything else is a malformed payload.
    """
    if type(value) is Decimal and value.same_quantum(CENT) and -_MONEY_LIMIT < value < _MONEY_LIMIT:
        # The common case, decided with the fewest steps: an amount as QBO writes it, or one this module made
        # (every model re-validates its money; the backfill runs this ~10× an invoice). Finite, in range, two
        # places: what the general path below returns for it is this very value.
        return value
    if isinstance(value, bool):
        raise ValueError("an amount must be a number, not a boolean")
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = Decimal(str(value))
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value[:40]!r}") from None
    else:
        raise ValueError(f"an amount must be a number or a decimal string, got {type(value).__name__}")
    if not dec.is_finite():
        raise ValueError(f"an amount must be finite, got {dec}")
    if abs(dec) >= _MONEY_LIMIT:
        raise ValueError(f"amount {dec} is out of range for numeric(18, 2)")
    cents = dec.quantize(CENT)
    if cents != dec:
        raise ValueError(f"amount {dec} has more than two decimal places")
    return cents


def to_instant(value: Any) -> datetime:
    """Parse an ISO-8601 timestamp with an offset and return it in UTC (PRODUCT.md §3, qbo-reference §2).

    QBO writes Pacific time with an offset; a timestamp without an offset is ambiguous, so it is refused.
    """
    if type(value) is datetime and value.tzinfo is UTC:
        return value  # already an instant (a model re-validating one): what `astimezone(UTC)` would return
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value[:40]!r}") from None
    else:
        raise ValueError(f"a timestamp must be a string, got {type(value).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"timestamp {value!s:.40} has no UTC offset")
    return dt.astimezone(UTC)


def to_date(value: Any) -> date:
    """Parse a QBO date (`YYYY-MM-DD`, e.g. `DueDate`)."""
    if isinstance(value, datetime):
        raise ValueError("a date was expected, not a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO date: {value[:40]!r}") from None
    raise ValueError(f"a date must be a string, got {type(value).__name__}")


def to_sync_token(value: Any) -> int:
    """QBO sends SyncToken as a string counter ("0", "1", …; qbo-reference §7.2); compare it as an int."""
    if isinstance(value, bool):
        raise ValueError("SyncToken must be a counter, not a boolean")
    if isinstance(value, int):
        token = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        token = int(value.strip())
    else:
        raise ValueError(f"SyncToken must be a non-negative integer string, got {value!r:.40}")
    if token < 0:
        raise ValueError(f"SyncToken must not be negative, got {token}")
    return token


def to_qbo_id(value: Any) -> str:
    """QBO Ids are strings ("266"); an int is accepted and normalised. Identity is by Id only (§3)."""
    if type(value) is str and len(value) <= 64 and (stripped := value.strip()):
        return stripped  # the common case, decided with the fewest checks (the backfill runs it ~7× a row)
    if isinstance(value, bool):
        raise ValueError("an Id must be a string, not a boolean")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"an Id must be a non-empty string, got {value!r:.40}")
    if len(value) > 64:
        raise ValueError("an Id longer than 64 characters is not a QBO Id")
    return value.strip()


def to_currency(value: Any) -> str:
    """ISO 4217 code as QBO's CurrencyRef.value carries it ("USD"); the platform column is char(3)."""
    if type(value) is str and len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()  # the common case: nothing to strip
    if not isinstance(value, str) or len(value.strip()) != 3 or not value.strip().isalpha():
        raise ValueError(f"a currency must be a 3-letter ISO code, got {value!r:.40}")
    if not value.strip().isascii():
        raise ValueError(f"a currency must be a 3-letter ISO code, got {value!r:.40}")
    return value.strip().upper()


def to_rate(value: Any) -> Decimal:
    """An ExchangeRate (qbo-reference §15.5: home units per one foreign unit): a positive Decimal, kept with
    every digit QBO sent (rates are not money: no rounding to the cent). Floats go through `str`."""
    if isinstance(value, bool):
        raise ValueError("an exchange rate must be a number, not a boolean")
    if isinstance(value, float):
        value = str(value)
    if not isinstance(value, Decimal | int | str):
        raise ValueError(f"an exchange rate must be a number, got {type(value).__name__}")
    try:
        rate = Decimal(value.strip() if isinstance(value, str) else value)
    except ArithmeticError:
        raise ValueError(f"not a number: {value!r:.40}") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"an exchange rate must be more than zero, got {value!r:.40}")
    if len(rate.as_tuple().digits) > 30:
        raise ValueError("an exchange rate with more than 30 digits is not QBO's")
    return rate


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"amount {value} must not be negative")
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"amount {value} must be greater than zero")
    return value


Money = Annotated[Decimal, BeforeValidator(to_money)]
"""Two-place Decimal; floats are converted through `str`, never used for arithmetic."""
NonNegativeMoney = Annotated[Decimal, BeforeValidator(to_money), AfterValidator(_non_negative)]
PositiveMoney = Annotated[Decimal, BeforeValidator(to_money), AfterValidator(_positive)]
Instant = Annotated[datetime, BeforeValidator(to_instant)]
"""A timezone-aware datetime normalised to UTC."""
SyncToken = Annotated[int, BeforeValidator(to_sync_token)]
QboId = Annotated[str, BeforeValidator(to_qbo_id)]
Currency = Annotated[str, BeforeValidator(to_currency)]
ExchangeRate = Annotated[Decimal, BeforeValidator(to_rate)]
