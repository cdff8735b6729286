"""The client's own error handling over `httpx.MockTransport` (unit level; real HTTP is in test_emulator_*)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from qbo.errors import QboAuthError, QboServerError, QboThrottled, QboTransportError, QboUnauthorized
from qbo.http import QboHttp
from qbo.limiter import LimiterRegistry, Limits
from tests.qbo_fixtures import QBO_FIXTURES as FIXTURES

TOKEN = SecretStr("access-token-" + "x" * 40)


def _http(handler, **limits) -> QboHttp:
    return QboHttp(
        api_base="https://qbo.test/v3/company",
        token_url="https://oauth.test/token",
        revoke_url="https://oauth.test/revoke",
        client_id="cid",
        client_secret=SecretStr("client-secret-value"),
        limiters=LimiterRegistry(Limits(**limits)),
        transport=httpx.MockTransport(handler),
    )


async def test_minorversion_requestid_headers_and_exact_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = (
            b'{"Payment":{"Id":"9","SyncToken":"0","TotalAmt":10.10},"time":"2020-09-29T05:58:07.300-07:00"}'
        )
        return httpx.Response(200, content=body, headers={"intuit_tid": "tid-9"})

    http = _http(handler)
    resp = await http.api(
        "123",
        "POST",
        "payment",
        token=TOKEN,
        params={"requestid": "r-1"},
        body={"TotalAmt": Decimal("10.10")},
    )
    await http.aclose()
    req = seen[0]
    assert req.url.params["minorversion"] == "75" and req.url.params["requestid"] == "r-1"
    assert req.url.path == "/v3/company/123/payment"
    assert req.headers["authorization"] == f"Bearer {TOKEN.get_secret_value()}"
    assert req.headers["accept"] == "application/json" and "gzip" in req.headers["accept-encoding"]
    assert req.content == b'{"TotalAmt":10.10}'
    assert resp.intuit_tid == "tid-9" and resp.data["Payment"]["TotalAmt"] == Decimal("10.10")


async def test_xml_429_sets_cooldown_and_following_calls_do_not_reach_qbo() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if "/456/" in request.url.path:
            return httpx.Response(200, content=b'{"Invoice":{"Id":"1"}}')
        xml = (FIXTURES / "throttle_exceeded_429.xml").read_bytes()
        return httpx.Response(
            429,
            content=xml,
            headers={"content-type": "application/xml", "Retry-After": "7", "intuit_tid": "tid-t"},
        )

    http = _http(handler)
    with pytest.raises(QboThrottled) as info:
        await http.api("123", "GET", "invoice/1", token=TOKEN)
    assert info.value.code == "3001" and info.value.retry_after == 7 and info.value.intuit_tid == "tid-t"
    with pytest.raises(QboThrottled):
        await http.api("123", "GET", "invoice/1", token=TOKEN)
    assert calls == 1  # the second call was held back by the realm's cool-down
    await http.api("456", "GET", "invoice/1", token=TOKEN)  # another realm is not held back
    assert calls == 2
    await http.aclose()


async def test_gateway_401_is_unauthorized_and_token_never_in_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = (FIXTURES / "fault_401_token_expired_3200.json").read_text()
        body = body.replace(
            "AB01601390262kxzxOlnHYdhtEVRXISU7piPqQrCmmbDN35Yjd", TOKEN.get_secret_value()[:50]
        )
        return httpx.Response(
            401, content=body.encode(), headers={"WWW-Authenticate": 'Bearer realm="Intuit"'}
        )

    http = _http(handler)
    with pytest.raises(QboUnauthorized) as info:
        await http.api("123", "GET", "invoice/1", token=TOKEN)
    await http.aclose()
    assert info.value.code == "3200"
    assert TOKEN.get_secret_value()[:20] not in str(info.value) + repr(info.value) + str(info.value.to_dict())


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (
            500,
            b'{"Fault":{"Error":[{"Message":"x","code":"10000"}],"type":"SystemFault"}}',
            "application/json",
        ),
        (503, b"<html>Service Unavailable</html>", "text/html"),
        (502, b"", "text/plain"),
    ],
)
async def test_server_errors_are_retryable(status: int, body: bytes, content_type: str) -> None:
    http = _http(lambda r: httpx.Response(status, content=body, headers={"content-type": content_type}))
    with pytest.raises(QboServerError) as info:
        await http.api("123", "GET", "invoice/1", token=TOKEN)
    await http.aclose()
    assert info.value.retryable and info.value.status == status


async def test_200_that_is_not_json_or_holds_a_fault() -> None:
    http = _http(lambda r: httpx.Response(200, content=b"<html>proxy</html>"))
    with pytest.raises(QboServerError):
        await http.api("123", "GET", "invoice/1", token=TOKEN)
    fault = b'{"Fault":{"Error":[{"Message":"Object Not Found","code":"610"}],"type":"ValidationFault"}}'
    http2 = _http(lambda r: httpx.Response(200, content=fault))
    with pytest.raises(Exception) as info:
        await http2.api("123", "GET", "invoice/1", token=TOKEN)
    assert type(info.value).__name__ == "QboNotFound"
    await http.aclose()
    await http2.aclose()


async def test_timeouts_and_connect_errors_are_transport_errors() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    for handler in (timeout, refused):
        http = _http(handler)
        with pytest.raises(QboTransportError) as info:
            await http.api("123", "GET", "invoice/1", token=TOKEN)
        assert info.value.retryable
        await http.aclose()


async def test_token_endpoint_basic_auth_hard_expiry_opt_in_and_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if b"bad" in request.content:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token invalid"})
        return httpx.Response(
            200, content=(FIXTURES / "oauth_token_response_with_hard_expiry.json").read_bytes()
        )

    http = _http(handler)
    data = await http.token_endpoint({"grant_type": "refresh_token", "refresh_token": "good"})
    assert data["x_refresh_token_hard_expires_in"] == 156032154
    req = seen[0]
    assert req.headers["x-include-refresh-token-hard-expires-in"] == "true"
    assert req.headers["authorization"].startswith("Basic ")
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    with pytest.raises(QboAuthError) as info:
        await http.token_endpoint({"grant_type": "refresh_token", "refresh_token": "bad-token-123"})
    assert info.value.code == "invalid_grant" and "bad-token-123" not in str(info.value)
    await http.aclose()
