"""The dashboard's login: the API key is typed once, the browser then holds a signed session cookie.

A browser can't send `Authorization: Bearer`, and putting the key itself in a cookie would leave it in
every request and in the browser's storage. So the cookie holds only an expiry and an HMAC of it, keyed
with the API key that was typed: the server checks it against every configured key (rotation works as for
bearer tokens, and dropping a key from API_KEY ends its sessions), and nothing in the cookie reveals a key.
HttpOnly (no script reads it), SameSite=Strict (never sent on a request another site starts, so the
dashboard's POST forms can't be forged cross-site), Path=/dashboard, Secure behind https.

With no API_KEY configured (the emulator stack's default) the whole API is open, and so is the dashboard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import Response
from pydantic import SecretStr

from settings import Settings

COOKIE = "qbo_dashboard"
COOKIE_PATH = "/dashboard"
TTL_SECONDS = 12 * 3600  # a working day; then the key is asked for again
_CONTEXT = b"qbo-dashboard-session.v1."


def _sign(key: SecretStr, expires: int) -> str:
    mac = hmac.new(key.get_secret_value().encode(), _CONTEXT + str(expires).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def matching_key(settings: Settings, typed: str) -> SecretStr | None:
    """The configured key equal to `typed`, compared in constant time against every key."""
    found = None
    for key in settings.api_keys:
        if hmac.compare_digest(typed.encode(), key.get_secret_value().encode()):
            found = key
    return found


def session_value(key: SecretStr, now: float | None = None) -> str:
    expires = int((now or time.time()) + TTL_SECONDS)
    return f"v1.{expires}.{_sign(key, expires)}"


def valid_session(settings: Settings, value: str | None, now: float | None = None) -> bool:
    """True for an unexpired cookie signed with any configured key."""
    version, _, rest = (value or "").partition(".")
    expires_text, _, sig = rest.partition(".")
    if version != "v1" or not expires_text.isdigit() or int(expires_text) < (now or time.time()):
        return False
    matches = [hmac.compare_digest(sig.encode(), _sign(k, int(expires_text)).encode()) for k in settings.api_keys]
    return any(matches)


def set_session(response: Response, settings: Settings, key: SecretStr) -> None:
    response.set_cookie(COOKIE, session_value(key), max_age=TTL_SECONDS, path=COOKIE_PATH, httponly=True,
                        samesite="strict", secure=settings.qbo_redirect_uri.startswith("https://"))


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def require_session(request: Request) -> None:
    """Dependency of every dashboard page but the login: without a valid session, 303 to the login page.

    Raised as an HTTPException so the app's one error handler answers it (a 303 with Location; the JSON body
    is never seen by a browser, which follows the redirect)."""
    settings: Settings = request.app.state.settings
    if not settings.api_keys or valid_session(settings, request.cookies.get(COOKIE)):
        return
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise HTTPException(303, "log in first", headers={"Location": f"/dashboard/login?next={quote(target)}"})


def safe_next(value: str | None) -> str:
    """Only a dashboard path may follow the login: never another site (an open redirect)."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard"
