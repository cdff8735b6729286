"""The QBO client the activities use: `QboApi` (one per worker process) and `QboCompany` (one partner).

`QboApi` owns the pooled HTTP client, the per-realm limiters, OAuth and the token store. `QboCompany`
loads the partner's token by partner id on every call (tokens never travel through workflow inputs or
history), refreshes and retries once on a 401, and speaks the Accounting API: reads, paged queries, CDC,
writes with `requestid`, batch.

Retries here are only the documented single ones: 401 → refresh → retry once (§10.3), 5010 → re-read →
retry once (`retry_stale_once`, §7.2). 429/5xx/timeouts are raised as retryable exceptions for Temporal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx

from qbo import batch as qbo_batch
from qbo import cdc as qbo_cdc
from qbo import query as query_builder
from qbo.batch import require_identity
from qbo.cdc import CdcResult
from qbo.crypto import TokenCipher
from qbo.envelopes import QueryPage, QueryResult, entity_from_envelope, query_result, server_time
from qbo.errors import QboAuthError, QboServerError, QboStaleObject, QboUnauthorized
from qbo.http import QboHttp, QboResponse
from qbo.limiter import LimiterRegistry, Limits
from qbo.models import CompanyInfo, Payment, QboObject, Tombstone, canonical_entity
from qbo.oauth import OAuthClient, TokenSet
from qbo.pages import RawObject, RawPage, decode_answer, raw_objects
from qbo.tokens import MAX_CONCURRENT_REFRESHES, REFRESH_MARGIN, REFRESH_TIMEOUT, TokenStore
from settings import Settings

log = logging.getLogger("qbo.client")

MAX_REQUEST_ID = 50  # §7.5
T = TypeVar("T")
M = TypeVar("M", bound=QboObject)


def _path(entity: str) -> str:
    return canonical_entity(entity).lower()  # create/read paths use the lower-case entity name (§1.2)


def _write_params(request_id: str, **extra: str) -> dict[str, str]:
    if not request_id or len(request_id) > MAX_REQUEST_ID:
        raise ValueError(f"requestid must be 1..{MAX_REQUEST_ID} characters (qbo-reference §7.5)")
    return {**extra, "requestid": request_id}


def retry_request_id(request_id: str) -> str:
    """The requestid for the one retry after 5010: different from the first (a replay would return the same
    fault), deterministic (a re-run activity derives the same one), within 50 characters."""
    return request_id[: MAX_REQUEST_ID - 3] + "-r1"


@dataclass
class CreateOutcome:
    object: QboObject
    created: bool  # False: found by its natural key, nothing was created


class QboApi:
    """Per-process entry point. Create once per worker (it holds the pooled HTTP client) and close it."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        limits: Limits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        refresh_margin: timedelta = REFRESH_MARGIN,
        refresh_timeout: float = REFRESH_TIMEOUT,
        max_concurrent_refreshes: int = MAX_CONCURRENT_REFRESHES,
        cdc_cap: int = qbo_cdc.CDC_CAP,
    ) -> None:
        hosts = settings.qbo_hosts
        self.cipher = TokenCipher(settings.token_encryption_key)
        self.http = QboHttp(
            api_base=hosts.api_base,
            token_url=hosts.token_url,
            revoke_url=hosts.revoke_url,
            client_id=settings.qbo_client_id,
            client_secret=settings.qbo_client_secret,
            limiters=LimiterRegistry(limits),
            transport=transport,
        )
        self.oauth = OAuthClient(
            self.http,
            self.cipher,
            client_id=settings.qbo_client_id,
            redirect_uri=settings.qbo_redirect_uri,
            authorize_url=hosts.authorize_url,
        )
        self.tokens = TokenStore(pool, self.cipher, self.oauth, refresh_margin=refresh_margin,
                                 refresh_timeout=refresh_timeout, max_concurrent_refreshes=max_concurrent_refreshes)
        self.pool = pool
        self.cdc_cap = cdc_cap  # QBO's 1000 (§4); smaller only to test against an emulator set the same way

    def __repr__(self) -> str:
        return f"QboApi({self.http.api_base!r})"

    def company(self, partner_id: str) -> QboCompany:
        return QboCompany(self, partner_id)

    async def confirm_company(self, realm_id: str, tokens: TokenSet) -> CompanyInfo:
        """CompanyInfo of `realm_id` read with a grant that is not stored yet: proves the grant is for that
        company before the callback stores anything (the callback's `realmId` is browser-editable; QBO
        answers 403 for a token of another realm, §10)."""
        resp = await self.http.api(realm_id, "GET", f"companyinfo/{realm_id}", token=tokens.access_token)
        obj = entity_from_envelope("CompanyInfo", resp.data, resp.intuit_tid)
        assert isinstance(obj, CompanyInfo)
        return obj

    async def aclose(self) -> None:
        await self.http.aclose()


class QboCompany:
    """One partner's QBO company. Cheap to create; the realm comes with the stored token."""

    def __init__(self, api: QboApi, partner_id: str) -> None:
        self._api = api
        self.partner_id = partner_id
        self.realm_id: str | None = None
        self.cdc_cap = api.cdc_cap

    def __repr__(self) -> str:
        return f"QboCompany(partner_id={self.partner_id!r}, realm_id={self.realm_id!r})"

    # --- transport ----------------------------------------------------------------------------------

    async def call(self, method: str, path: str, **kw: Any) -> QboResponse:
        """One API call with the partner's token; on 401 refresh (single-flight) and retry once (§10.3)."""
        tokens = self._api.tokens
        token = await tokens.get_access_token(self.partner_id)
        self.realm_id = token.realm_id
        try:
            return await self._api.http.api(token.realm_id, method, path, token=token.token, **kw)
        except QboUnauthorized:
            log.info("QBO 401 for partner %s realm %s: refreshing once", self.partner_id, token.realm_id)
        token = await tokens.refresh(self.partner_id, seen_version=token.version)
        try:
            return await self._api.http.api(token.realm_id, method, path, token=token.token, **kw)
        except QboUnauthorized as exc:
            raise QboAuthError(
                "QBO rejects a freshly refreshed token; the partner must reconnect",
                status=exc.status,
                code=exc.code,
                detail=exc.detail,
                intuit_tid=exc.intuit_tid,
            ) from None

    # --- reads --------------------------------------------------------------------------------------

    async def company_info(self) -> CompanyInfo:
        if self.realm_id is None:
            self.realm_id = (await self._api.tokens.get_access_token(self.partner_id)).realm_id
        resp = await self.call("GET", f"companyinfo/{self.realm_id}")
        obj = entity_from_envelope("CompanyInfo", resp.data, resp.intuit_tid)
        assert isinstance(obj, CompanyInfo)
        return obj

    async def preferences(self) -> dict[str, Any]:
        """`GET …/preferences` (qbo-reference §15.5): the raw `Preferences` object (its CurrencyPrefs are
        parsed by `rules.facts.parse_currency_prefs`); an answer without one is an empty dict."""
        resp = await self.call("GET", "preferences")
        prefs = resp.data.get("Preferences") if isinstance(resp.data, dict) else None
        return prefs if isinstance(prefs, dict) else {}

    async def read(self, entity: str, id_: str) -> QboObject:
        """GET one entity (the model for its type)."""
        resp = await self.call("GET", f"{_path(entity)}/{id_}")
        return entity_from_envelope(entity, resp.data, resp.intuit_tid)

    async def query(self, statement: str) -> QueryResult:
        """Run one statement (POST `application/text`, §1.2). Build it with `qbo.query`, never by pasting."""
        resp = await self.call("POST", "query", text=statement)
        data = resp.data if isinstance(resp.data, dict) else {}
        result = query_result(data.get("QueryResponse"), resp.intuit_tid, query_builder.entity_of(statement))
        result.server_time = server_time(data)
        return result

    async def query_pages(
        self,
        entity: str,
        where: Iterable[query_builder.Condition] | None = None,
        order_by: str = "Id",
        start_position: int = 1,
        page_size: int = query_builder.MAX_PAGE,
        include_inactive: bool = False,
    ) -> AsyncIterator[QueryPage]:
        """Pages in order until a short or empty page (§3); one page in memory at a time. Resume a backfill
        by passing a stored `Page.next_start_position` as `start_position`."""
        conditions = list(where or ())
        position = start_position
        while True:
            statement = query_builder.select(
                entity,
                conditions,
                order_by=order_by,
                start_position=position,
                max_results=page_size,
                include_inactive=include_inactive,
            )
            result = await self.query(statement)
            page = QueryPage(
                canonical_entity(entity),
                position,
                result.items,
                page_size,
                result.intuit_tid,
                result.server_time,
            )
            yield page
            if page.is_last:
                return
            position = page.next_start_position

    async def raw_pages(
        self, entity: str, *, where: Iterable[query_builder.Condition] | None = None, order_by: str = "Id",
        start_position: int = 1, page_size: int = query_builder.MAX_PAGE, include_inactive: bool = False,
        max_pages: int | None = None,
    ) -> AsyncGenerator[RawPage, None]:
        """Like `query_pages` (every object, by Id, unless `where` and `order_by` say otherwise), objects kept
        as JSON text (`qbo.pages`), and the next page already requested while the caller works on this one: a
        backfill's fetch and store overlap.

        Bounded: one request ahead at most, and only when this page was full and `max_pages` wants another,
        so nothing is fetched that is not used (a query past the end still costs a call). Both requests go
        through the realm's limiter like any other (≤ 10 per second, 500 per minute, qbo-reference §9).
        Close the iterator (`contextlib.aclosing`) when stopping early: that cancels the request ahead."""

        conditions = list(where or ())

        def fetch(position: int) -> asyncio.Task[RawPage]:
            statement = query_builder.select(entity, conditions, order_by=order_by, start_position=position,
                                             max_results=page_size, include_inactive=include_inactive)
            return asyncio.ensure_future(self._raw_page(entity, statement, position, page_size))

        ahead: asyncio.Task[RawPage] | None = fetch(start_position)
        fetched = 0
        try:
            while ahead is not None:
                page, ahead = await ahead, None
                fetched += 1
                if not page.is_last and (max_pages is None or fetched < max_pages):
                    ahead = fetch(page.next_start_position)
                yield page
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _raw_page(self, entity: str, statement: str, position: int, page_size: int) -> RawPage:
        resp = await self.call("POST", "query", text=statement, parse=decode_answer)
        data = resp.data if isinstance(resp.data, dict) else {}
        items = raw_objects(data.get("QueryResponse"), resp.intuit_tid)
        return RawPage(canonical_entity(entity), position, items, page_size, resp.intuit_tid, server_time(data))

    async def count(
        self, entity: str, where: Iterable[query_builder.Condition] | None = None, include_inactive: bool = False
    ) -> int:
        result = await self.query(query_builder.count(entity, where, include_inactive=include_inactive))
        return int(result.total_count or 0)

    async def find(
        self, entity: str, where: Iterable[query_builder.Condition], include_inactive: bool = False
    ) -> list[QboObject]:
        """Objects matching a natural key (first 1000)."""
        return (await self.query(query_builder.select(entity, where, include_inactive=include_inactive))).items

    async def find_payment_by_ref(self, ref: str) -> Payment | None:
        """The Payment whose `PaymentRefNum` is the platform payment id (PRODUCT §4), if QBO has it."""
        found = await self.find("Payment", [("PaymentRefNum", "=", ref)])
        payments = [p for p in found if isinstance(p, Payment) and p.PaymentRefNum == ref]
        return payments[0] if payments else None

    async def cdc(self, entities: Sequence[str], changed_since: datetime) -> CdcResult:
        """Changes since `changed_since` (≤ 29 days back), truncation-safe, each object kept as QBO's JSON text
        (`qbo.pages.RawObject`); see `qbo.cdc`."""
        return await qbo_cdc.collect(self, entities, changed_since)

    def iter_cdc(
        self, entities: Sequence[str], changed_since: datetime, result: CdcResult
    ) -> AsyncIterator[tuple[str, list[RawObject]]]:
        """Streaming form of `cdc()` for large windows: chunks of new objects; `result` gets the cursor."""
        return qbo_cdc.iter_changes(self, entities, changed_since, result)

    # --- writes (requestid on every one, §7.5) -------------------------------------------------------

    async def _write(self, entity: str, body: dict[str, Any], params: dict[str, str]) -> QboObject:
        resp = await self.call("POST", _path(entity), params=params, body=body)
        return entity_from_envelope(entity, resp.data, resp.intuit_tid)

    async def create(self, entity: str, body: dict[str, Any], request_id: str) -> QboObject:
        if "Id" in body or "SyncToken" in body:
            raise ValueError("a create body has no Id/SyncToken (qbo-reference §7.1)")
        return await self._write(entity, body, _write_params(request_id))

    async def update(self, entity: str, body: dict[str, Any], request_id: str) -> QboObject:
        """Full update: writable fields left out are cleared (§7.2). Prefer `sparse_update`."""
        require_identity(body)
        return await self._write(entity, {**body, "sparse": False}, _write_params(request_id))

    async def sparse_update(self, entity: str, body: dict[str, Any], request_id: str) -> QboObject:
        """Only the fields sent change; a `Line` array replaces all lines (§7.2). Needs Id + SyncToken."""
        require_identity(body)
        return await self._write(entity, {**body, "sparse": True}, _write_params(request_id))

    async def void(self, entity: str, id_: str, sync_token: str, request_id: str) -> QboObject:
        """Invoice: `operation=void`; Payment (and SalesReceipt, BillPayment): `operation=update&include=void`
        with a sparse body (§7.3)."""
        if canonical_entity(entity) == "Invoice":
            params = _write_params(request_id, operation="void")
            return await self._write(entity, {"Id": id_, "SyncToken": sync_token}, params)
        params = _write_params(request_id, operation="update", include="void")
        return await self._write(entity, {"Id": id_, "SyncToken": sync_token, "sparse": True}, params)

    async def delete(self, entity: str, id_: str, sync_token: str, request_id: str) -> Tombstone:
        """Transactions only (§7.4); the answer is the tombstone. Name lists are deactivated instead."""
        obj = await self._write(
            entity, {"Id": id_, "SyncToken": sync_token}, _write_params(request_id, operation="delete")
        )
        if not isinstance(obj, Tombstone):
            raise QboServerError(
                f"delete of {entity} {id_} did not answer with a tombstone", intuit_tid=obj.intuit_tid
            )
        return obj

    async def create_once(
        self,
        entity: str,
        body: dict[str, Any],
        request_id: str,
        lookup: Callable[[], Awaitable[QboObject | None]],
    ) -> CreateOutcome:
        """Look up by natural key, then create with `requestid` (§6.5, §7.5: requestid replay alone is not
        reliable). Safe to call again after a crash or timeout: the second call finds the first's object."""
        existing = await lookup()
        if existing is not None:
            return CreateOutcome(existing, created=False)
        return CreateOutcome(await self.create(entity, body, request_id), created=True)

    async def create_payment(self, body: dict[str, Any], request_id: str) -> CreateOutcome:
        """A Payment keyed by `PaymentRefNum` (the platform payment id, PRODUCT §4), created at most once."""
        ref = body.get("PaymentRefNum")
        if not ref:
            raise ValueError("a platform Payment needs PaymentRefNum (its natural key)")
        return await self.create_once("Payment", body, request_id, lambda: self.find_payment_by_ref(ref))

    async def retry_stale_once(
        self, entity: str, id_: str, op: Callable[[QboObject, str], Awaitable[T]], request_id: str
    ) -> T:
        """Read the object, run `op(current, request_id)`; on 5010 re-read and run it once more with
        `retry_request_id(request_id)` (§7.2). `op` must derive its change from `current` (re-apply)."""
        current = await self.read(entity, id_)
        try:
            return await op(current, request_id)
        except QboStaleObject:
            log.info("5010 on %s %s for partner %s: re-reading once", entity, id_, self.partner_id)
        current = await self.read(entity, id_)
        return await op(current, retry_request_id(request_id))

    async def batch(
        self, ops: list[qbo_batch.BatchOp], request_id: str | None = None
    ) -> list[qbo_batch.BatchItemResult]:
        """≤ 30 items in one request; per-item results (errors not raised) in the order of `ops` (§7.6).
        A request-level failure (401 after refresh, 429, 5xx) raises as usual."""
        body, by_bid = qbo_batch.build_request(ops)
        params: dict[str, str] = {}
        if request_id is not None:
            if len(request_id) > qbo_batch.MAX_BATCH_REQUEST_ID:
                raise ValueError("a batch requestid is at most 36 characters (qbo-reference §7.5)")
            params = _write_params(request_id)
        resp = await self.call("POST", "batch", params=params, body=body)
        return qbo_batch.parse_response(resp.data, by_bid, resp.intuit_tid)
