"""OAuth 2.0 as Intuit runs it (qbo-reference §10): authorize, token, refresh rotation, revoke.

Rotation: every refresh issues a new refresh token; the previous one keeps working for
`refresh_grace_seconds` (24 h at Intuit, OJS README), after which it gives `invalid_grant`.
Revoking any token of a grant (one connection of one company) revokes the whole grant.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from qbo_emulator.faults import WWW_AUTHENTICATE, token_expired_body, wrong_realm_body
from qbo_emulator.wire import CLOCK

if TYPE_CHECKING:
    from qbo_emulator.state import Emulator

CODE_TTL_MS = 10 * 60 * 1000
HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in"

router = APIRouter()


def _emu(request: Request) -> Emulator:
    return request.app.state.emu


@dataclass
class Denial:
    status: int
    body: str


class TokenService:
    """Tokens live in the `tokens` table: kind access|refresh, grouped by `grant_id`."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    @property
    def db(self):  # noqa: ANN201
        return self.emu.store

    def issue(self, realm: str, client_id: str, scope: str, *, grant_id: str | None = None,
              hard_expires_ms: int | None = None, include_hard: bool = False, id_token: bool = False) -> dict:
        """A token response shaped like fx:oauth_token_response (+ fx:..._with_hard_expiry on request)."""
        cfg = self.emu.cfg(realm)
        now = CLOCK.now_ms()
        grant_id = grant_id or secrets.token_hex(12)
        hard = hard_expires_ms or now + int(cfg.refresh_token_hard_ttl_seconds * 1000)
        access = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + secrets.token_urlsafe(48)
        refresh = f"RT1-{secrets.randbelow(90) + 10}-H0-{now // 1000}{secrets.token_hex(10)}"
        refresh_exp = min(now + int(cfg.refresh_token_ttl_seconds * 1000), hard)
        with self.db.tx():
            self.db.execute("INSERT INTO tokens (token, kind, realm, client_id, grant_id, issued_ms, expires_ms, "
                            "hard_expires_ms, scope) VALUES (?, 'access', ?, ?, ?, ?, ?, ?, ?)",
                            (access, realm, client_id, grant_id, now,
                             now + int(cfg.access_token_ttl_seconds * 1000), hard, scope))
            self.db.execute("INSERT INTO tokens (token, kind, realm, client_id, grant_id, issued_ms, expires_ms, "
                            "hard_expires_ms, scope) VALUES (?, 'refresh', ?, ?, ?, ?, ?, ?, ?)",
                            (refresh, realm, client_id, grant_id, now, refresh_exp, hard, scope))
        body: dict = {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
                      "expires_in": int(cfg.access_token_ttl_seconds),
                      "x_refresh_token_expires_in": max(0, (refresh_exp - now) // 1000)}
        if include_hard:
            body["x_refresh_token_hard_expires_in"] = max(0, (hard - now) // 1000)
        if id_token and "openid" in scope.split():  # OpenID: at code exchange only
            body["id_token"] = self._id_token(realm, client_id, now)
        return body

    def _id_token(self, realm: str, client_id: str, now_ms: int) -> str:
        """An HS256 JWT (Intuit signs RS256; nothing here verifies it)."""
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        header = b64(json.dumps({"alg": "HS256", "kid": "qbo-emulator"}).encode())
        payload = b64(json.dumps({"iss": "https://oauth.platform.intuit.com/op/v1", "sub": f"user-{realm}",
                                  "aud": [client_id], "realmid": realm, "iat": now_ms // 1000,
                                  "exp": now_ms // 1000 + 3600}).encode())
        sig = hmac.new(self.emu.client_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{b64(sig)}"

    def refresh(self, token: str, client_id: str, include_hard: bool) -> dict | None:
        """None means invalid_grant: unknown, other client, revoked, expired, or superseded past the grace."""
        row = self.db.execute("SELECT realm, client_id, grant_id, expires_ms, hard_expires_ms, superseded_ms, revoked, "
                              "scope FROM tokens WHERE token = ? AND kind = 'refresh'", (token,)).fetchone()
        if row is None:
            return None
        realm, owner, grant_id, expires_ms, hard_ms, superseded_ms, revoked, scope = row
        now = CLOCK.now_ms()
        grace_ms = int(self.emu.cfg(realm).refresh_grace_seconds * 1000)
        if owner != client_id or revoked or now >= expires_ms or (hard_ms and now >= hard_ms):
            return None
        if superseded_ms is not None and now >= superseded_ms + grace_ms:
            return None
        body = self.issue(realm, client_id, scope or "", grant_id=grant_id, hard_expires_ms=hard_ms,
                          include_hard=include_hard)
        if superseded_ms is None:
            self.db.execute("UPDATE tokens SET superseded_ms = ? WHERE token = ?", (now, token))
        return body

    def realm_of(self, token: str) -> str | None:
        row = self.db.execute("SELECT realm FROM tokens WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None

    def revoke_token(self, token: str) -> None:
        row = self.db.execute("SELECT grant_id FROM tokens WHERE token = ?", (token,)).fetchone()
        if row:
            self.db.execute("UPDATE tokens SET revoked = 1 WHERE grant_id = ?", (row[0],))

    def revoke_realm(self, realm: str) -> int:
        return self.db.execute("UPDATE tokens SET revoked = 1 WHERE realm = ? AND revoked = 0", (realm,)).rowcount

    def expire_access(self, realm: str) -> int:
        return self.db.execute("UPDATE tokens SET expires_ms = ? WHERE realm = ? AND kind = 'access' AND expires_ms > ?",
                               (CLOCK.now_ms() - 1, realm, CLOCK.now_ms() - 1)).rowcount

    def issued(self, realm: str) -> list[dict]:
        rows = self.db.execute("SELECT token, kind, grant_id, issued_ms, expires_ms, superseded_ms, revoked FROM tokens "
                               "WHERE realm = ? ORDER BY issued_ms, kind", (realm,)).fetchall()
        return [{"token": r[0], "kind": r[1], "grant_id": r[2], "issued_ms": r[3], "expires_ms": r[4],
                 "superseded_ms": r[5], "revoked": bool(r[6])} for r in rows]

    def check_access(self, authorization: str | None, realm: str) -> Denial | None:
        """Gateway check of `Authorization: Bearer ...` (fx:fault_401_token_expired_3200)."""
        token = ""
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        row = self.db.execute("SELECT realm, expires_ms, revoked FROM tokens WHERE token = ? AND kind = 'access'",
                              (token,)).fetchone() if token else None
        if row is None or row[2] or CLOCK.now_ms() >= row[1]:
            return Denial(401, token_expired_body(token or "none"))
        if row[0] != realm:
            return Denial(403, wrong_realm_body())
        return None


async def read_form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded body (parsed here: python-multipart is not a dependency)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    """client_secret_basic, or client_secret_post (both in the discovery document)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password
    if form.get("client_id"):
        return form["client_id"], form.get("client_secret", "")
    return None


def _client_ok(emu: Emulator, creds: tuple[str, str] | None) -> bool:
    return bool(creds) and creds[0] == emu.client_id and hmac.compare_digest(creds[1], emu.client_secret)  # type: ignore[index]


def invalid_grant() -> JSONResponse:
    return JSONResponse({"error_description": "Token invalid", "error": "invalid_grant"}, status_code=400)


_CONSENT_FIELDS = ("client_id", "redirect_uri", "response_type", "scope", "state")


def _check_request(emu: Emulator, q) -> Response | None:  # noqa: ANN001 (query params or a parsed form)
    if q.get("client_id") != emu.client_id:
        return HTMLResponse("<h1>invalid_client</h1><p>Unknown client_id.</p>", status_code=400)
    if q.get("response_type", "code") != "code" or not q.get("redirect_uri"):
        return HTMLResponse("<h1>invalid_request</h1><p>response_type=code and redirect_uri are required.</p>",
                            status_code=400)
    return None


def _back_to_app(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    parts = urlsplit(redirect_uri)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return RedirectResponse(urlunsplit(parts._replace(query=query)), status_code=302)


def _grant(emu: Emulator, q, realm: str) -> Response:  # noqa: ANN001
    """Approve: an authorization code for `realm`, and the browser back to the app's redirect URI."""
    if emu.store.company(realm) is None:
        return HTMLResponse(f"<h1>Unknown company {escape(realm)}</h1>", status_code=400)
    code = "AB" + secrets.token_urlsafe(30)
    with emu.store.tx():
        emu.store.execute("INSERT INTO auth_codes (code, realm, client_id, redirect_uri, scope, expires_ms) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          (code, realm, emu.client_id, q["redirect_uri"], q.get("scope", ""),
                           CLOCK.now_ms() + CODE_TTL_MS))
    return _back_to_app(q["redirect_uri"], {"code": code, "state": q.get("state", ""), "realmId": realm})


def consent_page(emu: Emulator, q) -> str:  # noqa: ANN001
    """Intuit's consent step as a person sees it: the companies this user can pick, then Approve (or
    Cancel). A form that posts the chosen realm with the request's own parameters carried along."""
    companies = emu.store.companies()
    hidden = "".join(f'<input type="hidden" name="{f}" value="{escape(q.get(f, ""))}">' for f in _CONSENT_FIELDS)
    choices = "".join(
        f'<p><input type="radio" name="realmId" id="realm-{escape(r)}" value="{escape(r)}"{" checked" if n == 0 else ""}>'
        f' <label for="realm-{escape(r)}">{escape(name)} <span class="muted">(company id {escape(r)})</span></label></p>'
        for n, (r, name) in enumerate(companies))
    body = (f'<form method="post" action="/connect/oauth2">{hidden}<fieldset><legend>Choose the QuickBooks '
            f'company to connect</legend>{choices}</fieldset><p>The app will be able to read and write this '
            f'company\'s customers, invoices, payments, deposits and accounts.</p>'
            f'<p><button type="submit" name="decision" value="approve">Approve</button> '
            f'<button type="submit" name="decision" value="deny" class="secondary">Cancel</button></p></form>'
            if companies else "<p>No companies yet: create one with POST /_emulator/companies.</p>")
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Connect to QuickBooks (emulator)'
            '</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#1a1a1a}'
            'fieldset{border:1px solid #c8c8c8;border-radius:6px}.muted{color:#4a4a4a}button{font:inherit;'
            'padding:.45rem 1rem;border-radius:4px;border:1px solid #1d6b2f;background:#1d6b2f;color:#fff}'
            'button.secondary{background:#fff;color:#1d6b2f}:focus-visible{outline:3px solid #f2a900}</style>'
            '</head><body><h1>Connect your QuickBooks company</h1><p>An app (client '
            f'<code>{escape(q.get("client_id", ""))}</code>) asks for access to your books.</p>{body}</body></html>')


@router.get("/connect/oauth2")
async def authorize(request: Request) -> Response:
    """With `realmId` (scripts and tests) it approves at once; otherwise the consent page."""
    emu = _emu(request)
    q = request.query_params
    if refused := _check_request(emu, q):
        return refused
    realm = q.get("realmId")
    if not realm:
        return HTMLResponse(consent_page(emu, q))
    return _grant(emu, q, realm)


@router.post("/connect/oauth2")
async def consent(request: Request) -> Response:
    """The consent page's form: Approve issues a code for the chosen company; Cancel answers the app
    `error=access_denied`, as Intuit does."""
    emu = _emu(request)
    form = await read_form(request)
    if refused := _check_request(emu, form):
        return refused
    if form.get("decision") != "approve":
        return _back_to_app(form["redirect_uri"], {"error": "access_denied", "state": form.get("state", "")})
    if not form.get("realmId"):
        return HTMLResponse(consent_page(emu, form), status_code=400)
    return _grant(emu, form, form["realmId"])


@router.post("/oauth2/v1/tokens/bearer")
async def token(request: Request) -> Response:
    emu = _emu(request)
    form = await read_form(request)
    if not _client_ok(emu, client_credentials(request, form)):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    include_hard = request.headers.get(HARD_EXPIRY_HEADER, "").lower() == "true"
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        row = emu.store.execute("SELECT realm, redirect_uri, scope, expires_ms, used FROM auth_codes WHERE code = ?",
                                (form.get("code", ""),)).fetchone()
        if (row is None or row[4] or CLOCK.now_ms() >= row[3]
                or (form.get("redirect_uri") and form["redirect_uri"] != row[1])):
            return invalid_grant()
        emu.store.execute("UPDATE auth_codes SET used = 1 WHERE code = ?", (form["code"],))
        return JSONResponse(emu.tokens.issue(row[0], emu.client_id, row[2] or "", include_hard=include_hard,
                                             id_token=True))
    if grant_type == "refresh_token":
        realm = emu.tokens.realm_of(form.get("refresh_token", ""))
        if realm and (latency := emu.cfg(realm).refresh_latency_seconds):
            await asyncio.sleep(latency)
        if realm and (outage := _oauth_fault(emu, realm)):
            return outage
        body = emu.tokens.refresh(form.get("refresh_token", ""), emu.client_id, include_hard)
        return JSONResponse(body) if body else invalid_grant()
    return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)


def _oauth_fault(emu: Emulator, realm: str) -> Response | None:
    """The `oauth_fault_status` switch: an outage of Intuit's OAuth endpoints for this realm's tokens."""
    status = emu.cfg(realm).oauth_fault_status
    if not status:
        return None
    return JSONResponse({"error": "temporarily_unavailable" if status >= 500 else "slow_down"}, status_code=status)


@router.post("/v2/oauth2/tokens/revoke")
async def revoke(request: Request) -> Response:
    """JSON `{"token": ...}` (OPC) or form-encoded (NQ); 200 with an empty body."""
    emu = _emu(request)
    form: dict[str, str] = {}
    token_value = ""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            token_value = str(json.loads(await request.body() or b"{}").get("token", ""))
        except (ValueError, AttributeError):
            token_value = ""
    else:
        form = await read_form(request)
        token_value = form.get("token", "")
    if not _client_ok(emu, client_credentials(request, form)):
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    if not token_value:
        return JSONResponse({"error": "invalid_request"}, status_code=400)
    if (realm := emu.tokens.realm_of(token_value)) and (outage := _oauth_fault(emu, realm)):
        return outage
    with emu.store.tx():
        emu.tokens.revoke_token(token_value)
    return Response(status_code=200)


def discovery(base: str) -> dict:
    """Shape of fx:oauth_openid_discovery_document, pointing at this emulator."""
    return {
        "issuer": "https://oauth.platform.intuit.com/op/v1",
        "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
        "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
    }


@router.get("/.well-known/openid_configuration")
@router.get("/.well-known/openid_configuration/")
@router.get("/.well-known/openid_sandbox_configuration")
@router.get("/.well-known/openid_sandbox_configuration/")
async def openid_configuration(request: Request) -> JSONResponse:
    return JSONResponse(discovery(str(request.base_url).rstrip("/")))


@router.get("/op/v1/jwks")
async def jwks() -> JSONResponse:
    return JSONResponse({"keys": []})


def unauthorized_response(denial: Denial) -> Response:
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if denial.status == 401 else {}
    return Response(denial.body, status_code=denial.status, media_type="application/json", headers=headers)
