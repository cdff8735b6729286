"""The per-realm limiter against the emulator's own counters, and 429 back-off."""

from __future__ import annotations

import asyncio

import pytest

from qbo.errors import QboThrottled, to_application_error


async def test_fifty_concurrent_calls_never_exceed_ten_in_flight(connect, emu) -> None:
    company = await connect(customers=2, invoices=1)
    await company.company_info()  # token loaded before the burst
    # The emulator holds the realm's requests until 10 are in flight together, so the overlap is certain
    # (a latency only made it likely): the peak is exactly the limiter's bound, never more.
    await emu.faults(company.realm_id, hold_until_in_flight=10)
    await emu.reset_requests(company.realm_id)
    try:
        results = await asyncio.gather(*(company.company_info() for _ in range(50)))
    finally:
        await emu.faults(company.realm_id)
    assert len(results) == 50 and all(r.CompanyName for r in results)
    stats = await emu.requests(company.realm_id)
    assert stats["max_in_flight"] == 10 and stats["total"] == 50, stats


async def test_429_backs_off_then_recovers(connect, emu, settings, db_pool) -> None:
    from qbo.client import QboApi
    from qbo.limiter import LimiterRegistry, Limits

    seeded = await connect(customers=2, invoices=1)
    api = QboApi(settings, db_pool)
    # The limiter's clock stands still unless the test moves it: "inside the cool-down" is then certain,
    # however long a loaded machine takes between the 429 and the next call.
    now = [1000.0]
    api.http.limiters = LimiterRegistry(Limits(throttle_cooldown=60.0), clock=lambda: now[0])
    try:
        await _backs_off_then_recovers(api.company(seeded.partner_id), emu, now)
    finally:
        await api.aclose()


async def _backs_off_then_recovers(company, emu, now: list[float]) -> None:
    await company.company_info()
    await emu.faults(company.realm_id, rate_429=1.0)
    with pytest.raises(QboThrottled) as info:
        await company.company_info()
    assert info.value.code == "3001" and info.value.status == 429  # the XML throttle body was understood
    assert info.value.retry_after is not None and info.value.retry_after > 0
    app = to_application_error(info.value)
    assert app.type == "QboThrottled" and not app.non_retryable and app.next_retry_delay is not None

    await emu.reset_requests(company.realm_id)
    now[0] += 59.0  # one second of the 60 s cool-down (no Retry-After) left
    with pytest.raises(QboThrottled) as inside:
        await company.company_info()  # inside the cool-down: not sent
    assert inside.value.retry_after == pytest.approx(1.0)
    stats = await emu.requests(company.realm_id)
    assert stats["total"] == 0, stats

    await emu.faults(company.realm_id, rate_429=0.0)
    now[0] += 1.0  # the cool-down is over: the very next call goes out and succeeds
    assert (await company.company_info()).CompanyName
    assert (await emu.requests(company.realm_id))["total"] == 1
