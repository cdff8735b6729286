"""The page's buttons (POST forms, then redirect-after-POST so a reload never repeats an action).

Each action calls the API's own route function (`api.partners`, `api.platform`): the same checks, the
same workflow update or signal, the same refusals. A refusal re-renders the page with the message next to
the control it concerns (422 for preferences, the route's own status otherwise).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api import partners, platform
from api.dashboard.forms import GENERAL, field_errors, read_form
from api.dashboard.pages import guarded, partner_context, render, router
from api.dashboard.session import clear_session, matching_key, safe_next, set_session
from api.deps import existing_partner
from api.errors import ApiError
from api.schemas import PartnerIn
from rules.preferences import Preferences


def _back(pid: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/dashboard/partners/{pid}?done={done}", status_code=303)


async def _refused(request: Request, pid: str, err: ApiError, form: dict[str, str] | None = None) -> Response:
    context = await partner_context(request, pid)
    errors = field_errors(err.message) if err.code == "invalid_preferences" else {GENERAL: [err.message]}
    context.update(errors=errors, form=form or {})
    return render(request, "partner.html", context, status_code=err.status)


@router.post("/login")
async def login(request: Request) -> Response:
    """Takes the API key once; answers a signed session cookie, never the key (`session`)."""
    form = await read_form(request)
    settings = request.app.state.settings
    key = matching_key(settings, form.get("api_key", ""))
    if key is None:
        return render(request, "login.html", {"next": safe_next(form.get("next")),
                                              "error": "That is not a valid API key."}, status_code=401)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    set_session(response, settings, key)
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/dashboard/login", status_code=303)
    clear_session(response)
    return response


@guarded.post("/partners")
async def create_partner(request: Request) -> Response:
    form = await read_form(request)
    try:
        body = PartnerIn(name=form.get("name", "").strip())
    except ValueError:
        return RedirectResponse("/dashboard", status_code=303)
    created = await partners.create_partner(body, request.app.state.pool)
    return RedirectResponse(f"/dashboard/partners/{created.id}", status_code=303)


@guarded.post("/partners/{pid}/connect")
async def connect(request: Request, pid: str) -> Response:
    """Connect and Reconnect: the API's connect, then the browser goes to its `start_url` (a top-level
    navigation on the API's origin), which binds this browser to the flow with its cookie and redirects to
    Intuit's consent page (README "Security")."""
    await existing_partner(pid, request)
    started = await partners.connect(request, Response(), pid)
    return RedirectResponse(started.start_url, status_code=303)


async def _save(request: Request, pid: str, form: dict[str, str], update: dict[str, bool | str | None]) -> Response | None:
    """Apply `update` on top of the current preferences; None when saved, else the page with the refusal."""
    db, client = request.app.state.pool, request.app.state.temporal
    status = await partners.qbo_status(pid, db, client)
    current = status.preferences or Preferences()
    try:
        wanted = current.model_copy(update=update)
        await partners.put_preferences(Preferences.model_validate(wanted.model_dump()), pid, db, client)
    except ApiError as err:
        return await _refused(request, pid, err, form)
    return None


@guarded.post("/partners/{pid}/accounts")
async def set_up_accounts(request: Request, pid: str) -> Response:
    """Set Up Accounts: where payments are recorded (`payment_account_id`)."""
    await existing_partner(pid, request)
    form = await read_form(request)
    refused = await _save(request, pid, form, {"payment_account_id": form.get("payment_account_id") or None})
    return refused or _back(pid, "accounts")


@guarded.post("/partners/{pid}/preferences")
async def confirm_preferences(request: Request, pid: str) -> Response:
    """Preferences → Create Deposits toggle → deposit account → Confirm. An unticked checkbox sends
    nothing, so its absence means off."""
    await existing_partner(pid, request)
    form = await read_form(request)
    update = {"create_deposits": form.get("create_deposits") == "on",
              "deposit_account_id": form.get("deposit_account_id") or None}
    refused = await _save(request, pid, form, update)
    return refused or _back(pid, "preferences")


@guarded.post("/partners/{pid}/sync")
async def sync_now(request: Request, pid: str) -> Response:
    await existing_partner(pid, request)
    try:
        await partners.sync_now(pid, request.app.state.pool, request.app.state.temporal)
    except ApiError as err:
        return await _refused(request, pid, err)
    return _back(pid, "sync")


@guarded.post("/partners/{pid}/{kind}/{item_id}/retry")
async def retry(request: Request, pid: str, kind: str, item_id: str) -> Response:
    """Retry a payment or payout that needs attention (409 when it no longer does: shown, not hidden)."""
    await existing_partner(pid, request)
    route = {"payments": platform.retry_payment, "payouts": platform.retry_payout,
             "refunds": platform.retry_refund}.get(kind)
    if route is None:
        raise ApiError(404, "not_found", f"nothing to retry under {kind}")
    try:
        await route(item_id, pid, request.app.state.pool, request.app.state.temporal)
    except ApiError as err:
        return await _refused(request, pid, err)
    return _back(pid, "retry")


@guarded.post("/partners/{pid}/disconnect")
async def disconnect(request: Request, pid: str) -> Response:
    """Reached only from the confirm page (`pages.disconnect_confirm`)."""
    await existing_partner(pid, request)
    try:
        await partners.disconnect(request, pid, request.app.state.pool, request.app.state.temporal)
    except ApiError as err:
        return await _refused(request, pid, err)
    return _back(pid, "disconnected")
