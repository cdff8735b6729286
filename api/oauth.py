"""The OAuth callback (PRODUCT.md §5, §6): Intuit redirects the partner's browser here after consent.

No bearer token (the browser doesn't have one): the signed, one-time `state` is the proof of who asked,
and the browser's cookie proves it is the browser that started the flow. A state alone would be a bearer
pass: whoever opened a forwarded consent link within its 10 minutes could attach their own company to
the partner. So the flow is bound to one browser: `POST /partners/{pid}/qbo/connect` sets an HttpOnly,
SameSite=Lax cookie bound to the state (an HMAC of its nonce, `qbo.oauth.StateSigner.browser_binding`),
and so does `GET /oauth/qbo/start?state=…`, the start link a dashboard on another origin sends the browser
to (single use: the first browser to open it is the bound one); it then redirects to Intuit. A callback
without the matching cookie is refused (`browser_mismatch`) before the state is used up.
Everything else in the query string is browser-editable, so before anything is stored the callback
1. checks `realmId` is a realm id at all (digits),
2. exchanges the code and reads CompanyInfo of that realm *with the new tokens* (QBO answers 403 for a
   token of another company), so a user cannot name a company the grant is not for,
3. binds the partner to one company: a live connection to another realm is refused (`realm_mismatch`)
   and the new grant revoked; a disconnected partner choosing another company starts afresh
   (`rules.connection`, `store.connection_repo`).
Then it starts the partner's workflow or signals `reconnected` to the running one. Errors answer a short
HTML page to a browser and the usual JSON error to anything else.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.errors import ApiError
from qbo.errors import OAuthStateError, QboError, QboServerError, QboThrottled, RealmMismatch
from qbo.oauth import BrowserBinding, TokenSet
from rules.connection import ConnectAction, decide_connect, valid_realm_id
from settings import Settings
from starter import partners as partner_workflows
from store import connection_repo
from store import platform_repo as repo

log = logging.getLogger("api.oauth")
router = APIRouter(tags=["oauth"])

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1>{title}</h1>{body}</body></html>"""
_START_AGAIN = "start again with POST /partners/{pid}/qbo/connect"


COOKIE_PATH = "/oauth/qbo/"  # sent back only to the start link and the callback


def set_browser_cookie(response: Response, binding: BrowserBinding, settings: Settings, max_age: int) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (sent on Intuit's top-level redirect back to the
    callback, not on cross-site subrequests), Secure when the callback is https, gone with the state."""
    response.set_cookie(binding.name, binding.value, max_age=max_age, path=COOKIE_PATH, httponly=True,
                        samesite="lax", secure=settings.qbo_redirect_uri.startswith("https://"))


def _error_page(request: Request, err: ApiError) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        raise err
    body = f"<p>{html.escape(err.message)}</p><p>Error code: <code>{html.escape(err.code)}</code></p>"
    return HTMLResponse(_PAGE.format(title="QuickBooks not connected", body=body), status_code=err.status)


@router.get("/oauth/qbo/start", response_class=RedirectResponse, status_code=302)
async def start(request: Request, state: str = Query(min_length=1)) -> Response:
    """The start link of `POST /partners/{pid}/qbo/connect` (`start_url`), for a dashboard on another
    origin: a top-level navigation here binds this browser to the flow (cookie) and redirects to Intuit.
    Good once: whoever opens a forwarded start link after the partner's browser did is refused."""
    oauth = request.app.state.qbo.oauth
    try:
        await oauth.mark_started(request.app.state.pool, state)
        binding = oauth.browser_binding(state)
    except OAuthStateError as err:
        return _error_page(request, ApiError(400, "invalid_state", f"{err}; {_START_AGAIN}"))
    response = RedirectResponse(oauth.url_for(state), status_code=302)
    set_browser_cookie(response, binding, request.app.state.settings, oauth.state_ttl)
    return response


@router.get("/oauth/qbo/callback", response_class=HTMLResponse)
async def callback(request: Request, state: str = Query(min_length=1), code: str | None = Query(None),
                   realm_id: str | None = Query(None, alias="realmId"),
                   error: str | None = Query(None)) -> Response:
    try:
        binding = _bound_browser(request, state)
        pid, realm, action = await _connect(request.app, state, code, realm_id, error)
    except ApiError as err:
        return _error_page(request, err)
    if request.app.state.settings.dashboard_on and "text/html" in request.headers.get("accept", ""):
        # A person in a browser goes back to the Integrations page, where the next step is.
        back = RedirectResponse(f"/dashboard/partners/{quote(pid)}?done=connected", status_code=303)
        back.delete_cookie(binding.name, path=COOKIE_PATH)
        return back
    body = (f"<p>Partner <code>{html.escape(pid)}</code> is connected to QuickBooks company "
            f"<code>{html.escape(realm)}</code> ({html.escape(action)}). You can close this window.</p>")
    response = HTMLResponse(_PAGE.format(title="QuickBooks connected", body=body))
    response.delete_cookie(binding.name, path=COOKIE_PATH)
    return response


def _bound_browser(request: Request, state: str) -> BrowserBinding:
    """The state's cookie, checked before the state is used up: a refused callback changes nothing."""
    try:
        binding: BrowserBinding = request.app.state.qbo.oauth.browser_binding(state)
    except OAuthStateError as err:
        raise ApiError(400, "invalid_state", f"{err}; {_START_AGAIN}") from None
    if not binding.matches(request.cookies.get(binding.name)):
        raise ApiError(400, "browser_mismatch",
                       "this QuickBooks authorization was started in another browser (or its cookie expired or "
                       "was blocked); nothing was changed. Connect again from the dashboard in this browser "
                       f"({_START_AGAIN}, or open its start_url)")
    return binding


async def _connect(app: FastAPI, state: str, code: str | None, realm_id: str | None,
                   error: str | None) -> tuple[str, str, str]:
    try:
        pid = await app.state.qbo.oauth.consume_state(app.state.pool, state)
    except OAuthStateError as err:
        raise ApiError(400, "invalid_state", f"{err}; {_START_AGAIN}") from None
    if error:
        raise ApiError(400, "consent_refused", f"QuickBooks did not grant access ({error}); start again to retry")
    if not code or not realm_id:
        raise ApiError(400, "bad_callback", "the callback needs code, state and realmId")
    if not valid_realm_id(realm_id):
        raise ApiError(400, "bad_callback", "realmId must be a QuickBooks company id (digits only)")
    try:
        tokens = await app.state.qbo.oauth.exchange_code(code)
    except QboError as err:
        log.warning("code exchange for %s failed: %s", pid, type(err).__name__)
        raise ApiError(400, "code_exchange_failed", f"QuickBooks refused the authorization code; {_START_AGAIN}") \
            from None
    try:
        company = await app.state.qbo.confirm_company(realm_id, tokens)
    except (QboThrottled, QboServerError) as err:  # QBO busy or down: says nothing about the grant
        log.warning("partner %s: CompanyInfo of realm %s unavailable (%s)", pid, realm_id, type(err).__name__)
        raise ApiError(503, "qbo_unavailable", f"QuickBooks did not answer while confirming company {realm_id}; "
                                               f"nothing was stored; {_START_AGAIN}", {"Retry-After": "5"}) from None
    except QboError as err:
        # Not revoked: we don't know which company this grant opens, and revoking ends the app's access to
        # that company (qbo-reference §10.4), possibly another partner's. Unused, it expires by itself.
        log.warning("partner %s: the grant does not open realm %s (%s)", pid, realm_id, type(err).__name__)
        raise ApiError(400, "realm_not_confirmed", f"QuickBooks did not confirm access to company {realm_id} "
                                                   f"with this authorization; {_START_AGAIN}") from None
    await _store(app, pid, realm_id, tokens, company.CompanyName or company.LegalName)
    await repo.set_workflow_pending(app.state.pool, pid, True)
    action = await start_pending(app, pid, realm_id) or (
        "saved; syncing starts automatically as soon as the workflow service is reachable")
    log.info("partner %s connected to realm %s (%s)", pid, realm_id, action)
    return pid, realm_id, action


async def _store(app: FastAPI, pid: str, realm_id: str, tokens: TokenSet, company_name: str | None) -> None:
    """Decide and store in one transaction, the connection row locked (two callbacks can't both switch)."""
    try:
        async with app.state.pool.acquire() as conn, conn.transaction():
            current = await connection_repo.lock_connection(conn, pid)
            decision = decide_connect(current.state if current else None, current.realm_id if current else None,
                                      realm_id)
            if decision.action is ConnectAction.REFUSE:
                raise RealmMismatch(decision.reason or "realm mismatch")
            if decision.action is ConnectAction.SWITCH_COMPANY and current is not None:
                await connection_repo.start_new_company(conn, pid, current.realm_id, realm_id)
            # A reconnect to the same realm overwrites the old grant without revoking it, on purpose (issue 14
            # item 7): revoking "ends the app's access to the realm" (qbo-reference §10.4), so at Intuit it may
            # end the grant just stored too (the emulator revokes per grant, which is more lenient than the
            # documented behaviour; we follow the documentation). The old refresh token is stored nowhere
            # afterwards and lapses by itself (100 days unused).
            await app.state.qbo.tokens.save_connection(pid, realm_id, tokens, company_name=company_name, conn=conn)
    except RealmMismatch as err:
        log.warning("partner %s: callback for realm %s refused (realm_mismatch)", pid, realm_id)
        await _revoke(app, tokens, realm_id)
        raise ApiError(409, "realm_mismatch", f"Not connected: {err.message} Nothing was changed.") from None
    except asyncpg.UniqueViolationError:
        # Not revoked, on purpose (issue 14 item 7): the constraint means another partner is live on this
        # realm, and revoking ends the app's access to the realm (qbo-reference §10.4): it would cut that
        # partner off. The unused grant is stored nowhere and lapses by itself (100 days unused, §10.3).
        log.warning("partner %s: realm %s is in use by another partner; new grant left unused", pid, realm_id)
        raise ApiError(409, "realm_in_use", f"QuickBooks company {realm_id} is already connected to another "
                                            "partner; disconnect it there first") from None


async def _revoke(app: FastAPI, tokens: TokenSet, realm_id: str) -> None:
    """Give back a grant we will not use. Revoking ends the app's access to the realm (qbo-reference §10.4),
    so never when another partner is live on that realm: that would disconnect them."""
    if await repo.partner_for_realm(app.state.pool, realm_id) is not None:
        log.info("grant for realm %s not revoked: another partner is connected to it", realm_id)
        return
    try:
        await app.state.qbo.oauth.revoke(tokens.refresh_token)
    except QboError as err:  # the grant expires by itself; nothing stored refers to it
        log.warning("could not revoke an unused grant for realm %s: %s", realm_id, type(err).__name__)


async def start_pending(app: FastAPI, pid: str, realm_id: str) -> str | None:
    """Start (or signal `reconnected` to) the partner's workflow and clear `workflow_pending`; None when
    Temporal can't be reached: the tokens are stored, the retry loop tries again (`start_pending_workflows`)."""
    try:
        action = await partner_workflows.start_or_reconnect(app.state.temporal, pid, realm_id,
                                             sync_interval_seconds=app.state.settings.sync_interval_seconds,
                                             task_queue=app.state.task_queue)
    except Exception as exc:  # Temporal down or slow: never lose the connection over it
        log.warning("could not start the workflow of partner %s yet (%s); will retry", pid, type(exc).__name__)
        return None
    await repo.set_workflow_pending(app.state.pool, pid, False)
    return action


async def start_pending_workflows(app: FastAPI) -> int:
    """Finish what callbacks could not: called by the API's retry loop."""
    started = 0
    for row in await repo.pending_workflows(app.state.pool):
        started += await start_pending(app, row["partner_id"], row["realm_id"]) is not None
    return started

