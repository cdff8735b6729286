"""The OAuth callback (PRODUCT.md §6): Intuit redirects the partner's browser here after consent.

No bearer token (the browser doesn't have one): the signed, one-time `state` is the proof of who asked.
Check it, exchange the code, store the tokens encrypted, then start the partner's workflow or signal
`reconnected` to the running one."""

from __future__ import annotations

import html
import logging

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.errors import ApiError
from qbo.errors import QboError
from qbo.oauth import OAuthStateError
from starter import partners as wf
from store import platform_repo as repo

log = logging.getLogger("api.oauth")
router = APIRouter(tags=["oauth"])

_PAGE = """<!doctype html><html><head><title>QuickBooks connected</title></head><body>
<h1>QuickBooks connected</h1><p>Partner <code>{pid}</code> is connected to QuickBooks company
<code>{realm}</code> ({action}). You can close this window.</p></body></html>"""


@router.get("/oauth/qbo/callback", response_class=HTMLResponse)
async def callback(request: Request, state: str = Query(min_length=1), code: str | None = Query(None),
                   realm_id: str | None = Query(None, alias="realmId"),
                   error: str | None = Query(None)) -> HTMLResponse:
    app = request.app
    try:
        pid = await app.state.qbo.oauth.consume_state(app.state.pool, state)
    except OAuthStateError as err:
        raise ApiError(400, "invalid_state", f"{err}; start again with POST /partners/{{pid}}/qbo/connect") from None
    if error:
        raise ApiError(400, "consent_refused", f"QuickBooks did not grant access ({error}); start again to retry")
    if not code or not realm_id:
        raise ApiError(400, "bad_callback", "the callback needs code, state and realmId")
    try:
        tokens = await app.state.qbo.oauth.exchange_code(code)
    except QboError as err:
        log.warning("code exchange for %s failed: %s", pid, type(err).__name__)
        raise ApiError(400, "code_exchange_failed", "QuickBooks refused the authorization code; "
                                                    "start again with POST /partners/{pid}/qbo/connect") from None
    try:
        await app.state.qbo.tokens.save_connection(pid, realm_id, tokens)
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "realm_in_use", f"QuickBooks company {realm_id} is already connected to another "
                                            "partner; disconnect it there first") from None
    await repo.set_workflow_pending(app.state.pool, pid, True)
    action = await start_pending(app, pid, realm_id) or (
        "saved; syncing starts automatically as soon as the workflow service is reachable")
    log.info("partner %s connected to realm %s (%s)", pid, realm_id, action)
    return HTMLResponse(_PAGE.format(pid=html.escape(pid), realm=html.escape(realm_id), action=action))


async def start_pending(app, pid: str, realm_id: str) -> str | None:
    """Start (or signal `reconnected` to) the partner's workflow and clear `workflow_pending`; None when
    Temporal can't be reached: the tokens are stored, the retry loop tries again (`start_pending_workflows`)."""
    try:
        action = await wf.start_or_reconnect(app.state.temporal, pid, realm_id,
                                             sync_interval_seconds=app.state.settings.sync_interval_seconds,
                                             task_queue=app.state.task_queue)
    except Exception as exc:  # Temporal down or slow: never lose the connection over it
        log.warning("could not start the workflow of partner %s yet (%s); will retry", pid, type(exc).__name__)
        return None
    await repo.set_workflow_pending(app.state.pool, pid, False)
    return action


async def start_pending_workflows(app) -> int:
    """Finish what callbacks could not: called by the API's retry loop."""
    started = 0
    for row in await repo.pending_workflows(app.state.pool):
        started += await start_pending(app, row["partner_id"], row["realm_id"]) is not None
    return started
