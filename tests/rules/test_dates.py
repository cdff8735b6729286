"""TxnDates (PRODUCT.md §4 "Dates"; qbo-reference §15.4, §15.6): the day the customer paid, in the
company's time zone, never the day of posting; the zone is a validated per-partner preference."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from rules.dates import DEFAULT_TIME_ZONE, local_date, time_zone_problem
from rules.posting import build_payment
from rules.preferences import Preferences, validate_preferences
from tests.rules.factories import CHART, payment

# 23:30 on New Year's Eve in Los Angeles is already 02:30 on Jan 1 in New York (07:30 UTC).
NYE_LA = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-8)))


def _txn_date(paid_at: datetime, **prefs: str) -> str:
    body = build_payment(payment(paid_at=paid_at), qbo_customer_id="58", qbo_invoice_id="130",
                         prefs=Preferences(**prefs))
    return body["TxnDate"]


def test_payment_is_dated_the_day_paid_in_the_company_zone() -> None:
    assert _txn_date(NYE_LA) == "2026-12-31"  # default zone: QBO's own, Los Angeles
    assert _txn_date(NYE_LA, time_zone="America/Los_Angeles") == "2026-12-31"
    assert _txn_date(NYE_LA, time_zone="America/New_York") == "2027-01-01"
    assert _txn_date(NYE_LA.astimezone(UTC), time_zone="UTC") == "2027-01-01"


def test_payment_without_paid_at_is_refused_rather_than_dated_by_qbo() -> None:
    with pytest.raises(ValueError, match="no paid_at"):
        build_payment(payment(paid_at=None), qbo_customer_id="58", qbo_invoice_id="130", prefs=Preferences())


def test_local_date_follows_daylight_saving() -> None:
    # 2026-03-08 is the US spring-forward day: 07:30 UTC is 23:30 PST on the 7th, 09:30 UTC 01:30 PST the 8th
    assert local_date(datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "America/Los_Angeles") == date(2026, 3, 7)
    assert local_date(datetime(2026, 3, 8, 9, 30, tzinfo=UTC), "America/Los_Angeles") == date(2026, 3, 8)
    # in summer the zone is UTC-7: 06:59 UTC is still the day before
    assert local_date(datetime(2026, 7, 1, 6, 59, tzinfo=UTC), "America/Los_Angeles") == date(2026, 6, 30)


def test_local_date_refuses_naive_instants_and_unknown_zones() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        local_date(datetime(2026, 12, 31, 23, 30), "America/Los_Angeles")
    with pytest.raises(ValueError, match="not an IANA time zone"):
        local_date(NYE_LA, "Mars/Olympus_Mons")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "PST", "america/los_angeles", "../../etc/passwd",
                                  "America/Los_Angeles ", "+08:00", ""])
def test_unknown_time_zone_is_a_preference_problem(name: str) -> None:
    prefs = Preferences.model_construct(**{**Preferences().model_dump(), "time_zone": name})
    problems = validate_preferences(prefs, CHART)
    assert len(problems) == 1 and problems[0].startswith("time_zone:"), problems


def test_known_time_zones_are_accepted_and_the_default_is_qbo_server_zone() -> None:
    assert Preferences().time_zone == DEFAULT_TIME_ZONE == "America/Los_Angeles"
    for name in ("America/New_York", "Europe/London", "Australia/Sydney", "UTC"):
        assert time_zone_problem(name) is None
        assert validate_preferences(Preferences(time_zone=name), CHART) == []


def test_stored_preferences_without_time_zone_still_load() -> None:
    """Workflow state and `qbo_connections.preferences` written before the field existed."""
    old = {"payment_account_id": "4", "create_deposits": False, "deposit_account_id": None, "fee_account_id": "60"}
    assert Preferences.model_validate(old).time_zone == "America/Los_Angeles"
    assert Preferences.model_validate({**old, "time_zone": "  "}).time_zone == "America/Los_Angeles"
