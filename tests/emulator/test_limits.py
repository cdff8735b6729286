"""Throttling per realm (qbo-reference §9) and fault injection (PRODUCT §7), with the counters of
GET /_emulator/requests that limiter tests rely on."""

from __future__ import annotations

import asyncio

import httpx

from tests.emulator.support import Api


async def burst(company: Api, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=company.http.base_url, timeout=30) as client:
        return await asyncio.gather(*(client.get(f"/companyinfo/{company.realm}", headers=company.auth)
                                      for _ in range(n)))


def stats(admin: httpx.Client, realm: str) -> dict:
    return admin.get("/_emulator/requests", params={"realm_id": realm}).json()


def test_more_than_10_concurrent_get_429_xml(company: Api, admin: httpx.Client) -> None:
    # All 16 are held until they are in flight together, then checked one after the other: the first six
    # see more than 10 in flight and get 429, the other ten see 10 or fewer.
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "hold_until_in_flight": 16})
    responses = asyncio.run(burst(company, 16))
    codes = [r.status_code for r in responses]
    assert codes.count(429) == 6 and codes.count(200) == 10, codes
    throttled = next(r for r in responses if r.status_code == 429)
    assert throttled.headers["content-type"].startswith("application/xml") and b"ThrottleExceeded" in throttled.content
    s = stats(admin, company.realm)
    assert s["max_in_flight"] == 16 and s["throttled"] == 6


def test_max_in_flight_and_switch_off(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/config", json={"realm_id": company.realm, "throttle_enabled": False})
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "hold_until_in_flight": 12})
    admin.post("/_emulator/requests/reset", params={"realm_id": company.realm})
    responses = asyncio.run(burst(company, 12))
    assert all(r.status_code == 200 for r in responses)
    s = stats(admin, company.realm)
    assert s["max_in_flight"] == 12 and s["total"] == 12 and s["by_method"] == {"GET": 12}
    assert s["by_entity_operation"] == {"read:CompanyInfo": 12}


def test_500_per_minute(company: Api, admin: httpx.Client) -> None:
    # The window stands still, so all 501 requests fall in one minute however slow the machine is.
    admin.put("/_emulator/config", json={"realm_id": company.realm, "throttle_clock_frozen": True})
    codes = [company.get(f"/companyinfo/{company.realm}").status_code for _ in range(501)]
    assert codes[:500] == [200] * 500 and codes[500] == 429


def test_limits_are_per_realm(company: Api, admin: httpx.Client, emulator_url: str) -> None:
    from tests.emulator.conftest import make_company

    admin.put("/_emulator/config", json={"realm_id": company.realm, "throttle_per_minute": 3,
                                          "throttle_clock_frozen": True})
    codes = [company.get(f"/companyinfo/{company.realm}").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other = make_company(admin, emulator_url)
    assert other.get(f"/companyinfo/{other.realm}").status_code == 200
    other.close()


def test_injected_500_then_recovery(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "rate_500": 1.0, "max_faults": 2})
    codes = [company.get(f"/companyinfo/{company.realm}").status_code for _ in range(3)]
    assert codes == [500, 500, 200]
    failed = admin.put("/_emulator/faults", json={"realm_id": company.realm, "rate_503": 1.0, "max_faults": 1})
    assert failed.status_code == 200
    r = company.get(f"/companyinfo/{company.realm}")
    assert r.status_code == 503 and r.json()["Fault"]["type"] == "SystemFault"
    assert stats(admin, company.realm)["faults_injected"] == 3


def test_injected_429_is_xml(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "rate_429": 1.0, "max_faults": 1})
    r = company.get(f"/companyinfo/{company.realm}")
    assert r.status_code == 429 and r.text.startswith("<?xml")
    assert "retry-after" not in r.headers  # Intuit sends none (qbo-reference §9)


def test_injected_429_can_carry_retry_after(company: Api, admin: httpx.Client) -> None:
    """The chaos soak's short cool-downs: the client honours a Retry-After when there is one (§9)."""
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "rate_429": 1.0, "max_faults": 1,
                                         "retry_after_seconds": 2.5})
    r = company.get(f"/companyinfo/{company.realm}")
    assert r.status_code == 429 and r.headers["retry-after"] == "2.5"
    assert company.get(f"/companyinfo/{company.realm}").status_code == 200


def test_timeout_after_the_write_happened(company: Api, admin: httpx.Client) -> None:
    """The hard case for exactly-once: the write is applied but the answer is lost."""
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "timeout_rate": 1.0, "timeout_seconds": 0.2,
                                         "max_faults": 1})
    r = company.post("/customer", {"DisplayName": "Lost Answer"}, requestid="rid-lost")
    assert r.status_code == 504
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Lost Answer'")["totalCount"] == 1
    retry = company.post("/customer", {"DisplayName": "Lost Answer"}, requestid="rid-lost")
    assert retry.status_code == 200  # replayed, not a 6240
    admin.put("/_emulator/faults", json={"realm_id": company.realm, "timeout_rate": 1.0, "timeout_seconds": 0.2,
                                         "timeout_after_apply": False, "max_faults": 1})
    r = company.post("/customer", {"DisplayName": "Never Written"})
    assert r.status_code == 504
    assert company.query("SELECT COUNT(*) FROM Customer WHERE DisplayName = 'Never Written'")["totalCount"] == 0


def test_requests_reset(company: Api, admin: httpx.Client) -> None:
    company.get(f"/companyinfo/{company.realm}")
    assert stats(admin, company.realm)["total"] >= 1
    admin.post("/_emulator/requests/reset", params={"realm_id": company.realm})
    s = stats(admin, company.realm)
    assert s["total"] == 0 and s["max_in_flight"] == 0
