"""Partners and their QBO connection (PRODUCT.md §6): create/list, connect, status, preferences, sync now,
disconnect, sync runs, reconciliation. Messages to the workflow go through `starter.partners`."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode, urlsplit

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from api import schemas
from api.decimal_json import DecimalJsonRoute
from api.deps import PartnerId, Pool, Temporal, require_api_key
from api.errors import ApiError
from api.oauth import set_browser_cookie
from qbo.errors import QboError
from qbo.jsonio import loads
from rules.dates import time_zone_problem
from rules.preferences import Preferences
from starter import partners as partner_workflows
from starter.partners import PartnerStatus
from store import platform_repo as repo
from store import reconcile_repo

log = logging.getLogger("api.partners")
router = APIRouter(route_class=DecimalJsonRoute, dependencies=[Depends(require_api_key)], tags=["partners"],
                   responses={401: {"model": schemas.ErrorBody}, 404: {"model": schemas.ErrorBody}})


@router.post("/partners", status_code=201, response_model=schemas.Created)
async def create_partner(body: schemas.PartnerIn, db: Pool) -> schemas.Created:
    """Create a partner → `{id}`."""
    return schemas.Created(id=await repo.create_partner(db, body.name))


@router.get("/partners", response_model=list[schemas.PartnerOut])
async def list_partners(db: Pool) -> list[schemas.PartnerOut]:
    return [schemas.PartnerOut(**dict(r)) for r in await repo.list_partners(db)]


@router.post("/partners/{pid}/qbo/connect", response_model=schemas.AuthorizeUrl)
async def connect(request: Request, response: Response, pid: PartnerId) -> schemas.AuthorizeUrl:
    """The Intuit consent URL, with a signed one-time `state` bound to this partner, and the cookie that
    binds the flow to the browser that asked (api/oauth.py). A dashboard whose server calls this sends the
    browser to `start_url` instead, which sets that cookie on the browser and redirects to Intuit."""
    oauth = request.app.state.qbo.oauth
    state = await oauth.new_state(request.app.state.pool, pid)
    set_browser_cookie(response, oauth.browser_binding(state), request.app.state.settings, oauth.state_ttl)
    origin = urlsplit(request.app.state.settings.qbo_redirect_uri)
    start = f"{origin.scheme}://{origin.netloc}/oauth/qbo/start?{urlencode({'state': state})}"
    return schemas.AuthorizeUrl(authorize_url=oauth.url_for(state), start_url=start)


async def workflow_running(client: Client, pid: str) -> bool:
    return await partner_workflows.workflow_running(client, pid, rpc_timeout=timedelta(seconds=5))


async def _live_status(client: Client, pid: str) -> PartnerStatus | None:
    """The workflow's `status` query when it runs, else None (PostgreSQL answers instead)."""
    try:
        if not await workflow_running(client, pid):
            return None
        return await partner_workflows.status(client, pid, rpc_timeout=timedelta(seconds=5))
    except Exception as exc:  # Temporal slow or down: the dashboard still gets the stored view
        log.warning("status query for %s failed (%s); answering from PostgreSQL", pid, type(exc).__name__)
        return None


@router.get("/partners/{pid}/qbo", response_model=schemas.QboStatus)
async def qbo_status(pid: PartnerId, db: Pool,
                     client: Temporal) -> schemas.QboStatus:
    row = await repo.connection(db, pid)
    accounts = [schemas.Account(**dict(a)) for a in await repo.active_accounts(db, pid)]
    counts = await repo.platform_counts(db, pid)
    prefs = Preferences.model_validate(row["preferences"]) if row and row["preferences"] else None
    out = schemas.QboStatus(
        state=row["state"] if row else "not_connected", realm_id=row["realm_id"] if row else None,
        company_name=row["company_name"] if row else None, last_synced_at=row["last_synced_at"] if row else None,
        preferences=prefs, accounts=accounts, counts=counts, last_error=row["last_error"] if row else None,
        reconnect_before=row["refresh_hard_expires_at"] if row else None, source="database")
    live = await _live_status(client, pid) if row else None
    if live is None:
        return out
    return out.model_copy(update=dict(
        state=live.state.value, realm_id=live.realm_id, company_name=live.company_name or out.company_name,
        last_synced_at=live.last_sync_at or out.last_synced_at, preferences=live.preferences or prefs,
        counts={**counts, **live.counts}, last_error=live.last_error, step=live.step,
        backfill=schemas.Backfill(done=live.backfill.done, total=live.backfill.total),
        pending_postings=live.pending_postings, source="workflow"))


def _not_running(pid: str) -> ApiError:
    return ApiError(409, "not_connected", f"partner {pid} has no running QBO integration; connect it first "
                                          "with POST /partners/{pid}/qbo/connect")


async def _require_live(db: asyncpg.Pool, client: Client, pid: str) -> None:
    """Connected (and not disconnecting: the row turns `disconnected` before the workflow completes)."""
    row = await repo.connection(db, pid)
    if row is None or row["state"] == "disconnected" or not await workflow_running(client, pid):
        raise _not_running(pid)


@router.put("/partners/{pid}/qbo/preferences", response_model=Preferences,
            responses={409: {"model": schemas.ErrorBody}, 422: {"model": schemas.ErrorBody}})
async def put_preferences(body: Preferences, pid: PartnerId, db: Pool,
                          client: Temporal) -> Preferences:
    """§4 preferences through the workflow's `update_preferences`: the applied preferences, or 422 with the
    validator's reason (nothing changed). An unknown time zone is refused here already: it needs no QBO
    accounts to judge."""
    if problem := time_zone_problem(body.time_zone):
        raise ApiError(422, "invalid_preferences", problem)
    await _require_live(db, client, pid)
    try:
        return await partner_workflows.update_preferences(client, pid, body)
    except WorkflowUpdateFailedError as err:
        reason = str(err.cause.message if err.cause is not None and hasattr(err.cause, "message") else err)
        raise ApiError(422, "invalid_preferences", reason) from None


@router.post("/partners/{pid}/qbo/sync", status_code=202, response_model=schemas.Accepted,
             responses={409: {"model": schemas.ErrorBody}})
async def sync_now(pid: PartnerId, db: Pool, client: Temporal) -> schemas.Accepted:
    await _require_live(db, client, pid)
    await partner_workflows.sync_now(client, pid)
    return schemas.Accepted(status="sync requested")


@router.post("/partners/{pid}/qbo/disconnect", response_model=schemas.DisconnectOut,
             responses={409: {"model": schemas.ErrorBody}})
async def disconnect(request: Request, pid: PartnerId, db: Pool,
                     client: Temporal) -> schemas.DisconnectOut:
    """Revoke the tokens and stop syncing; the data stays. Already disconnected → 200 again. Without a running
    workflow the API revokes and clears the stored tokens itself."""
    row = await repo.connection(db, pid)
    if row is not None and row["state"] == "disconnected":
        return schemas.DisconnectOut(state="disconnected")
    if not await workflow_running(client, pid):
        if row is None:
            raise _not_running(pid)
        # Tokens stored but no workflow to ask (it failed, was terminated, or never started): revoke and
        # clear here rather than leave a live grant behind (issue 14 item 7). Same as the workflow's step.
        try:
            await request.app.state.qbo.tokens.disconnect(pid)
        except QboError as err:  # Intuit unreachable: the tokens stay, so the same request can be sent again
            raise ApiError(503, "unavailable", f"could not reach Intuit to revoke the grant ({type(err).__name__}); "
                                               "nothing was changed, try again", {"Retry-After": "5"}) from None
        await repo.set_workflow_pending(db, pid, False)
        log.info("partner %s disconnected without a running workflow: tokens revoked and cleared", pid)
        return schemas.DisconnectOut(state="disconnected")
    try:
        result = await partner_workflows.disconnect(client, pid)
    except WorkflowUpdateFailedError as err:
        raise ApiError(409, "disconnect_refused", str(getattr(err.cause, "message", err))) from None
    return schemas.DisconnectOut(state=result.state.value)


@router.get("/partners/{pid}/qbo/sync-runs", response_model=list[schemas.SyncRun])
async def sync_runs(pid: PartnerId, db: Pool,
                    limit: int = Query(50, ge=1, le=500)) -> list[schemas.SyncRun]:
    return [schemas.SyncRun(**dict(r)) for r in await repo.sync_runs(db, pid, limit)]


@router.post("/partners/{pid}/qbo/reconciliation", status_code=202, response_model=schemas.ReconciliationRequested,
             responses={409: {"model": schemas.ErrorBody}})
async def request_reconciliation(pid: PartnerId, db: Pool, client: Temporal) -> schemas.ReconciliationRequested:
    """Start a reconciliation run in the partner's workflow (paged, within the realm's QBO budget); a run
    already waiting or running is joined, not doubled. `GET` answers the latest run."""
    await _require_live(db, client, pid)
    run_id, status = await reconcile_repo.request_run(db, pid)
    try:
        await partner_workflows.request_reconciliation(client, pid)
    except RPCError as err:  # the run waits in PostgreSQL; the workflow's next cycle finds it anyway
        log.warning("reconcile signal for %s not delivered (%s); the next cycle runs it", pid, err.status)
    return schemas.ReconciliationRequested(run_id=run_id, status=status)


@router.get("/partners/{pid}/qbo/reconciliation", response_model=schemas.Reconciliation,
            responses={404: {"model": schemas.ErrorBody}})
async def reconciliation(pid: PartnerId, db: Pool) -> schemas.Reconciliation:
    """The latest reconciliation run: `requested`, `running`, or `finished` with its report."""
    row = await reconcile_repo.latest_run(db, pid)
    if row is None:
        raise ApiError(404, "not_found", f"partner {pid} has no reconciliation run yet; start one with "
                                         "POST /partners/{pid}/qbo/reconciliation")
    report = loads(row["report"]) if row["report"] else {}
    return schemas.Reconciliation(run_id=row["id"], status=row["status"], realm_id=row["realm_id"],
                            requested_at=row["requested_at"], started_at=row["started_at"],
                            finished_at=row["finished_at"], **report)
