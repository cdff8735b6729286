"""OAuth 2.0 with Intuit: authorize URL with a signed one-time `state`, code exchange, refresh, revoke.

`state` (qbo-reference §10.2) = base64url(JSON {partner, nonce, exp, kid}) "." base64url(HMAC-SHA256). The
HMAC key is derived (HKDF) from the token encryption key, so there is no extra secret to manage; the nonce
is stored in `oauth_states` and consumed atomically, so a state is good for one callback, for one partner,
for `state_ttl` seconds. Token responses become `TokenSet`s whose tokens are `SecretStr`: they print as
`**********` in any repr, log line or exception.

Exchange and refresh opt in to the hard-expiry field (header `x-include-refresh-token-hard-expires-in`,
§10.3), so the dashboard can warn before the 5-year limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from qbo.crypto import TokenCipher
from qbo.errors import OAuthStateError
from qbo.http import QboHttp

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"


class TokenSet(BaseModel):
    """One token endpoint answer (fx:oauth_token_response[_with_hard_expiry]) and when it was obtained."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    access_token: SecretStr
    refresh_token: SecretStr
    token_type: str = "bearer"
    expires_in: int = 3600
    x_refresh_token_expires_in: int | None = None
    x_refresh_token_hard_expires_in: int | None = None
    obtained_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def access_expires_at(self) -> datetime:
        return self.obtained_at + timedelta(seconds=self.expires_in)

    @property
    def refresh_expires_at(self) -> datetime | None:
        if self.x_refresh_token_expires_in is None:
            return None
        return self.obtained_at + timedelta(seconds=self.x_refresh_token_expires_in)

    @property
    def refresh_hard_expires_at(self) -> datetime | None:
        if self.x_refresh_token_hard_expires_in is None:
            return None
        return self.obtained_at + timedelta(seconds=self.x_refresh_token_hard_expires_in)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class BrowserBinding(BaseModel):
    """The cookie (name, value) a browser must carry back to the callback of the flow it started."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: str

    def matches(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.value.encode())


class StateSigner:
    """HMAC signing of `state` with keys derived from the token encryption keys (all verify, first signs)."""

    def __init__(self, cipher: TokenCipher) -> None:
        self._keys = cipher.derived_keys("oauth-state")

    def __repr__(self) -> str:
        return "StateSigner()"

    def sign(self, partner_id: str, nonce: str, expires_at: int) -> str:
        kid, key = self._keys[0]
        payload = _b64(json.dumps({"p": partner_id, "n": nonce, "e": expires_at, "k": kid}).encode())
        mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def verify(self, state: str, now: float | None = None) -> tuple[str, str]:
        """(partner_id, nonce) of a well-signed, unexpired state; raises `OAuthStateError` otherwise."""
        claims, _ = self._verified(state, now)
        return str(claims["p"]), str(claims["n"])

    def browser_binding(self, state: str, now: float | None = None) -> BrowserBinding:
        """The cookie that ties a well-signed state to the browser that started the flow: an HMAC of its
        nonce (under the state's own key, domain-separated), so nothing more is stored and only this
        service can compute it; the name is per flow, so two flows in one browser don't clash."""
        claims, key = self._verified(state, now)
        nonce = str(claims["n"]).encode()
        value = _b64(hmac.new(key, b"browser-binding\x00" + nonce, hashlib.sha256).digest())
        return BrowserBinding(name="qbo_oauth_" + hashlib.sha256(nonce).hexdigest()[:16], value=value)

    def _verified(self, state: str, now: float | None) -> tuple[dict[str, Any], bytes]:
        try:
            payload, mac_b64 = state.split(".")
            claims = json.loads(_unb64(payload))
            key = dict(self._keys)[claims["k"]]
            given = _unb64(mac_b64)
        except (ValueError, KeyError, TypeError):
            raise OAuthStateError("malformed OAuth state") from None
        expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, given):
            raise OAuthStateError("OAuth state signature does not match")
        if (now if now is not None else time.time()) > claims["e"]:
            raise OAuthStateError("OAuth state expired")
        return claims, key


class OAuthClient:
    def __init__(
        self,
        http: QboHttp,
        cipher: TokenCipher,
        *,
        client_id: str,
        redirect_uri: str,
        authorize_url: str,
        scopes: tuple[str, ...] = (ACCOUNTING_SCOPE,),
        state_ttl: int = 600,
    ) -> None:
        self._http = http
        self._signer = StateSigner(cipher)
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self._authorize_url = authorize_url
        self.scopes = scopes
        self.state_ttl = state_ttl

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r})"

    async def authorize_url(self, pool: asyncpg.Pool, partner_id: str) -> str:
        """The Intuit consent URL for a partner, with a fresh one-time `state` (§10.2)."""
        return self.url_for(await self.new_state(pool, partner_id))

    async def new_state(self, pool: asyncpg.Pool, partner_id: str) -> str:
        nonce = secrets.token_urlsafe(24)
        await pool.execute("INSERT INTO oauth_states (nonce, partner_id) VALUES ($1, $2)", nonce, partner_id)
        return self._signer.sign(partner_id, nonce, int(time.time()) + self.state_ttl)

    def browser_binding(self, state: str) -> BrowserBinding:
        """The cookie the browser that starts the flow gets, checked by the callback; raises
        `OAuthStateError` for a forged or expired state."""
        return self._signer.browser_binding(state)

    async def mark_started(self, pool: asyncpg.Pool, state: str) -> str:
        """The start link is good once: the first browser to open it is the one bound to the flow. Returns
        the partner; raises `OAuthStateError` when the state is forged, expired, used or already started."""
        owner, nonce = self._signer.verify(state)
        started = await pool.fetchval(
            "UPDATE oauth_states SET started_at = now() WHERE nonce = $1 AND partner_id = $2 AND used_at IS NULL "
            "AND started_at IS NULL AND created_at > now() - make_interval(secs => $3) RETURNING nonce",
            nonce, owner, float(self.state_ttl))
        if started is None:
            raise OAuthStateError("this connect link was already opened (or has expired or been used)")
        return owner

    def url_for(self, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "scope": " ".join(self.scopes),
                "redirect_uri": self.redirect_uri,
                "state": state,
            }
        )
        return f"{self._authorize_url}?{query}"

    async def consume_state(self, pool: asyncpg.Pool, state: str, *, partner_id: str | None = None) -> str:
        """Check a callback's `state` and use it up; returns the partner it was issued for."""
        owner, nonce = self._signer.verify(state)
        if partner_id is not None and partner_id != owner:
            raise OAuthStateError("OAuth state was issued for another partner")
        used = await pool.fetchval(
            "UPDATE oauth_states SET used_at = now() WHERE nonce = $1 AND partner_id = $2 AND used_at IS NULL "
            "AND created_at > now() - make_interval(secs => $3) RETURNING nonce",
            nonce,
            owner,
            float(self.state_ttl),
        )
        if used is None:
            raise OAuthStateError("OAuth state already used or unknown")
        return owner

    async def exchange_code(self, code: str) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        return await self._grant(form)

    async def refresh(self, refresh_token: SecretStr) -> TokenSet:
        return await self._grant(
            {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        )

    async def _grant(self, form: dict[str, str]) -> TokenSet:
        asked_at = datetime.now(UTC)  # lifetimes count from the request, never later than the server's clock
        data = await self._http.token_endpoint(form)
        return TokenSet.model_validate({**data, "obtained_at": asked_at})

    async def revoke(self, token: SecretStr) -> None:
        await self._http.revoke_endpoint(token)
