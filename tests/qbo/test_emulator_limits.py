"""The per-realm limiter against the emulator's own counters, and 429 back-off."""

from __future__ import annotations

import asyncio

import pytest

from qbo.errors import QboThrottled, to_application_error
from tests.helpers import eventually


async def test_fifty_concurrent_calls_never_exceed_ten_in_flight(connect, emu) -> None:
    company = await connect(customers=2, invoices=1)
    await company.company_info()  # token loaded before the burst
    await emu.faults(company.realm_id, latency_ms=40)  # each call lasts long enough to overlap
    await emu.reset_requests()
    try:
        results = await asyncio.gather(*(company.company_info() for _ in range(50)))
    finally:
        await emu.faults(company.realm_id, latency_ms=0)
    assert len(results) == 50 and all(r.CompanyName for r in results)
    stats = await emu.requests(company.realm_id)
    peak = stats["max_in_flight"]
    assert 1 < peak <= 10, stats


async def test_429_backs_off_then_recovers(connect, emu, settings, db_pool) -> None:
    from qbo.client import QboApi
    from qbo.limiter import Limits

    seeded = await connect(customers=2, invoices=1)
    api = QboApi(settings, db_pool, limits=Limits(throttle_cooldown=3.0))  # no Retry-After: this cool-down
    try:
        await _backs_off_then_recovers(api.company(seeded.partner_id), emu)
    finally:
        await api.aclose()


async def _backs_off_then_recovers(company, emu) -> None:
    await company.company_info()
    await emu.faults(company.realm_id, rate_429=1.0)
    with pytest.raises(QboThrottled) as info:
        await company.company_info()
    assert info.value.code == "3001" and info.value.status == 429  # the XML throttle body was understood
    assert info.value.retry_after is not None and info.value.retry_after > 0
    app = to_application_error(info.value)
    assert app.type == "QboThrottled" and not app.non_retryable and app.next_retry_delay is not None

    await emu.reset_requests()
    with pytest.raises(QboThrottled):
        await company.company_info()  # inside the cool-down: not sent
    stats = await emu.requests(company.realm_id)
    assert stats["total"] == 0, stats

    await emu.faults(company.realm_id, rate_429=0.0)

    async def recovered() -> bool:
        try:
            await company.company_info()
        except QboThrottled:
            return False
        return True

    await eventually(recovered, timeout=30, interval=0.2, what="the realm's cool-down to end")
