"""The pages (GET): login, the partner list, the Integrations page of one partner, the disconnect confirm.

Every figure on a page comes from the API's own route functions, called in-process (`api.partners`,
`api.platform`), so the page shows exactly what `GET /partners/{pid}/…` answers and no business rule is
written twice. Those functions take their dependencies as arguments; the routers' bearer check is not
applied here because the dashboard has its own session (`api.dashboard.session`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from api import partners, platform
from api.dashboard.session import require_session, safe_next
from api.deps import existing_partner
from api.paging import PageRequest
from rules.preferences import DEPOSIT_ACCOUNT_TYPES, PAYMENT_ACCOUNT_TYPES
from store import platform_repo as repo

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)
guarded = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False,
                    dependencies=[Depends(require_session)])

FIRST_PAGE = PageRequest(limit=200, after=None)  # the newest 200 of each list; the API pages the rest

# What the partner reads beside the bank-account dropdown of "Set Up Accounts".
RECOMMENDATION = ("Recommended: Undeposited Funds if you will turn on Create Deposits (each payout then "
                  "moves from there to your bank in one Deposit); otherwise the bank account your payouts "
                  "arrive in, so each payment lands where you reconcile it.")


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:  # noqa: A002 (the query name)
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@guarded.get("", response_class=HTMLResponse)
async def partner_list(request: Request) -> Response:
    rows = await repo.list_partners(request.app.state.pool)
    return render(request, "partners.html", {"partners": [dict(r) for r in rows],
                                             "login": bool(request.app.state.settings.api_keys)})


async def partner_context(request: Request, pid: str) -> dict[str, Any]:
    """Everything the Integrations page shows, read through the API's own route functions."""
    db, client = request.app.state.pool, request.app.state.temporal
    status = await partners.qbo_status(pid, db, client)
    name = next((r["name"] for r in await repo.list_partners(db) if r["id"] == pid), pid)
    accounts = status.accounts
    return {
        "pid": pid, "partner_name": name, "status": status, "prefs": status.preferences,
        "payment_accounts": [a for a in accounts if a.type in PAYMENT_ACCOUNT_TYPES
                             and (a.type == "Bank" or a.subtype == "UndepositedFunds")],
        "bank_accounts": [a for a in accounts if a.type in DEPOSIT_ACCOUNT_TYPES],
        "account_names": {a.id: a.name for a in accounts},
        "recommendation": RECOMMENDATION,
        "invoices": (await platform.list_invoices(pid, db, FIRST_PAGE, include_archived=False)).items,
        "payments": (await platform.list_payments(pid, db, FIRST_PAGE)).items,
        "payouts": (await platform.list_payouts(pid, db, FIRST_PAGE)).items,
        "sync_runs": await partners.sync_runs(pid, db, limit=20),
        "connected": status.state in ("onboarding", "active", "needs_reconnect"),
        "errors": {}, "form": {}, "notice": request.query_params.get("done"), "login":
            bool(request.app.state.settings.api_keys),
    }


NOTICES = {"connected": "QuickBooks is connected. The first sync runs now; invoices appear as it goes.",
           "accounts": "Account saved.", "preferences": "Preferences saved.", "sync": "Sync requested.",
           "retry": "Back in line: it is posted on the next sync.", "disconnected": "QuickBooks disconnected."}


@guarded.get("/partners/{pid}", response_class=HTMLResponse)
async def partner_page(request: Request, pid: str) -> Response:
    await existing_partner(pid, request)
    context = await partner_context(request, pid)
    context["notice"] = NOTICES.get(context["notice"] or "")
    return render(request, "partner.html", context)


@guarded.get("/partners/{pid}/disconnect", response_class=HTMLResponse)
async def disconnect_confirm(request: Request, pid: str) -> Response:
    """The confirm step: disconnecting stops the sync and revokes the tokens, so it is never one click."""
    await existing_partner(pid, request)
    name = next((r["name"] for r in await repo.list_partners(request.app.state.pool) if r["id"] == pid), pid)
    return render(request, "disconnect.html", {"pid": pid, "partner_name": name})
