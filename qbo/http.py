"""The one pooled `httpx.AsyncClient` of a process, and the wire rules every QBO call follows.

Accounting calls: `minorversion=75` always (qbo-reference §1.4), `Accept: application/json`, gzip (§1.3), the
realm's limiter slot held for the request (§9), the `intuit_tid` kept on results and errors (§1.3), and
every non-2xx body mapped by `qbo.faults` whatever its shape (JSON, gateway 401, XML). OAuth calls go to
the token/revoke endpoints with Basic auth and a form or JSON body (§10.3, §10.4).

Nothing here retries: a failure is raised as a typed exception, and Temporal retries the activity. Logs
name the method, path, status, `intuit_tid` and duration; never a header, a body or a query string.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from metrics.service import operation, record_qbo_call
from qbo.errors import QboServerError, QboThrottled, QboTransportError
from qbo.faults import error_for_fault, error_for_response, fault_from_json, oauth_error
from qbo.jsonio import dumps, loads
from qbo.limiter import LimiterRegistry

log = logging.getLogger("qbo.http")

MINOR_VERSION = "75"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # QBO itself gives up after 120 s (§9)


@dataclass(frozen=True)
class QboResponse:
    status: int
    data: Any
    intuit_tid: str | None


def _tid(resp: httpx.Response) -> str | None:
    tid: str | None = resp.headers.get("intuit_tid") or resp.headers.get("intuit-tid")
    return tid


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class QboHttp:
    """Owns the process's `httpx.AsyncClient` and the per-realm limiters."""

    def __init__(
        self,
        *,
        api_base: str,
        token_url: str,
        revoke_url: str,
        client_id: str,
        client_secret: SecretStr,
        limiters: LimiterRegistry | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.token_url = token_url
        self.revoke_url = revoke_url
        self._client_id = client_id
        self._client_secret = client_secret
        self.limiters = limiters or LimiterRegistry()
        self._client = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": "qbo-integration/0.1",
            },
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"QboHttp(api_base={self.api_base!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _send(self, op: str, method: str, url: str, **kw: Any) -> httpx.Response:
        """The one place a request leaves the process, so every QBO call is counted here (`op` is the
        bounded operation label, `metrics.service`)."""
        started = time.monotonic()
        try:
            resp = await self._client.request(method, url, **kw)
        except httpx.TimeoutException as exc:
            record_qbo_call(op, method, None, None)
            raise QboTransportError(f"QBO did not answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            record_qbo_call(op, method, None, None)
            raise QboTransportError(f"QBO unreachable ({type(exc).__name__})") from None
        record_qbo_call(op, method, resp.status_code, time.monotonic() - started)
        return resp

    async def api(
        self,
        realm_id: str,
        method: str,
        path: str,
        *,
        token: SecretStr,
        params: dict[str, str] | None = None,
        body: Any = None,
        text: str | None = None,
        parse: Callable[[bytes], Any] = loads,
    ) -> QboResponse:
        """One Accounting API call. `body` is JSON (Decimals as numbers); `text` is a query statement POSTed
        as `application/text` (§1.2, avoids URL length and encoding trouble). `parse` reads the answer (a
        bulk read may leave parts of it undecoded, `qbo.pages`); it raises ValueError on what is not JSON."""
        url = f"{self.api_base}/{realm_id}/{path}"
        query = {**(params or {}), "minorversion": MINOR_VERSION}
        secret = token.get_secret_value()
        headers = {"Authorization": f"Bearer {secret}"}
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = dumps(body).encode()
        elif text is not None:
            headers["Content-Type"] = "application/text"
            content = text.encode()
        limiter = self.limiters.get(realm_id)
        started = time.monotonic()
        async with limiter.slot():
            resp = await self._send(operation(path), method, url, params=query, headers=headers, content=content)
        tid = _tid(resp)
        log.debug(
            "QBO %s %s -> %s intuit_tid=%s %.0fms",
            method, path, resp.status_code, tid, (time.monotonic() - started) * 1000,
        )  # fmt: skip
        if resp.status_code >= 400:
            err = error_for_response(
                resp.status_code,
                resp.content,
                resp.headers.get("content-type"),
                intuit_tid=tid,
                retry_after=_retry_after(resp),
                secrets=(secret,),
            )
            if isinstance(err, QboThrottled):
                err.retry_after = limiter.throttled(err.retry_after)
            raise err
        try:
            data = parse(resp.content)
        except ValueError:
            raise QboServerError(
                f"QBO answered {resp.status_code} with a body that is not JSON",
                status=resp.status_code,
                intuit_tid=tid,
            ) from None
        fault = fault_from_json(data)
        if fault is not None:  # a 200 carrying a top-level Fault is still a fault
            raise error_for_fault(fault, status=resp.status_code, intuit_tid=tid, secrets=(secret,))
        return QboResponse(resp.status_code, data, tid)

    def _basic(self) -> str:
        raw = f"{self._client_id}:{self._client_secret.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    async def token_endpoint(self, form: dict[str, str], *, hard_expiry: bool = True) -> dict[str, Any]:
        """POST to the token endpoint (exchange or refresh). Opts in to `x_refresh_token_hard_expires_in` (§10.3)."""
        headers = {"Authorization": self._basic(), "Content-Type": "application/x-www-form-urlencoded"}
        if hard_expiry:
            headers["x-include-refresh-token-hard-expires-in"] = "true"
        resp = await self._send("oauth_token", "POST", self.token_url, data=form, headers=headers)
        tid = _tid(resp)
        log.debug(
            "QBO OAuth token grant=%s -> %s intuit_tid=%s", form.get("grant_type"), resp.status_code, tid
        )
        if resp.status_code >= 400:
            raise oauth_error(resp.status_code, resp.content, intuit_tid=tid)
        try:
            data = loads(resp.content)
        except ValueError:
            raise QboServerError(
                "token endpoint answered with a non-JSON body", status=resp.status_code
            ) from None
        if not isinstance(data, dict) or "access_token" not in data:
            raise QboServerError(
                "token endpoint answer has no access_token", status=resp.status_code, intuit_tid=tid
            )
        return data

    async def revoke_endpoint(self, token: SecretStr) -> None:
        """Revoke a refresh (or access) token: JSON `{"token": …}` with Basic auth (§10.4). 200 is success."""
        headers = {"Authorization": self._basic(), "Content-Type": "application/json"}
        resp = await self._send(
            "oauth_revoke",
            "POST",
            self.revoke_url,
            content=dumps({"token": token.get_secret_value()}).encode(),
            headers=headers,
        )
        log.debug("QBO OAuth revoke -> %s intuit_tid=%s", resp.status_code, _tid(resp))
        if resp.status_code >= 400:
            raise oauth_error(resp.status_code, resp.content, intuit_tid=_tid(resp))
