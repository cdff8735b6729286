"""Token store over `qbo_connections`: encrypted at rest, refreshed single-flight across processes.

Why it is shaped like this (qbo-reference §10.3, §12 item 2): the top cause of dead QBO connections is a
rotated refresh token that was not saved, or two workers refreshing with the same token. So:

- a refresh runs inside a transaction holding the connection row lock (`SELECT … FOR UPDATE`); a second
  refresher (any process) waits on the lock and then finds the work done (`token_version` moved, or the
  access token is fresh) and uses the new token instead of refreshing again;
- the new tokens are committed *before* the new access token is returned to anyone;
- on `invalid_grant` the lock is released, the row re-read, and if the stored refresh token changed
  meanwhile (a reconnect, an older process) the refresh is tried once more with it; otherwise, or if that
  fails too, `QboAuthError` is raised and the partner must reconnect;
- tokens are `SecretStr` in memory and AES-GCM ciphertexts (`qbo.crypto`) in PostgreSQL;
- the Intuit call made while holding the row lock (and a pool connection) is bounded: it gives up after
  `refresh_timeout` seconds (a retryable `QboTransportError`; the transaction rolls back, so the lock and
  the connection are released and the stored tokens stay as they were; a refresh token Intuit may have
  rotated meanwhile is not lost, the old one stays valid for 24 h, qbo-reference §10.3), and at most
  `max_concurrent_refreshes` refreshes per process hold a connection at once, the others wait without
  one, so after an outage a crowd of partners refreshing together cannot drain the pool.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import SecretStr

from metrics.service import QBO_TOKEN_REFRESHES
from qbo.crypto import DecryptionError, TokenCipher
from qbo.errors import QboAuthError, QboStaleObject, QboTransportError, QboValidationError, RealmMismatch
from qbo.faults import is_invalid_grant
from qbo.oauth import OAuthClient, TokenSet

log = logging.getLogger("qbo.tokens")

_COLUMNS = (
    "partner_id, realm_id, state, access_token_enc, refresh_token_enc, access_expires_at, "
    "refresh_expires_at, refresh_hard_expires_at, token_version"
)


@dataclass(frozen=True)
class AccessToken:
    """A usable access token for one partner's realm. `version` is the row's `token_version` it came from."""

    partner_id: str
    realm_id: str
    token: SecretStr = field(repr=False)
    version: int
    expires_at: datetime


@dataclass(frozen=True)
class ConnectionTokens:
    """What the dashboard may know about a connection's tokens (no token)."""

    partner_id: str
    realm_id: str
    state: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    refresh_hard_expires_at: datetime | None
    token_version: int


REFRESH_MARGIN = timedelta(minutes=5)
REFRESH_TIMEOUT = 20.0  # seconds Intuit's token endpoint may hold the row lock (README "Several worker processes")
MAX_CONCURRENT_REFRESHES = 4


class TokenStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        oauth: OAuthClient,
        *,
        refresh_margin: timedelta = REFRESH_MARGIN,
        refresh_timeout: float = REFRESH_TIMEOUT,
        max_concurrent_refreshes: int = MAX_CONCURRENT_REFRESHES,
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._oauth = oauth
        self.refresh_margin = refresh_margin
        self.refresh_timeout = refresh_timeout
        # Refreshes of different partners that may hold a pool connection and a row lock at once.
        self._refreshing = asyncio.Semaphore(max_concurrent_refreshes)
        # In-process single flight: concurrent tasks of one worker queue here instead of each taking a
        # pool connection to wait on the row lock; the row lock makes it single-flight across processes.
        self._local: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return "TokenStore()"

    # --- encryption helpers -------------------------------------------------------------------------

    def _enc(self, partner_id: str, kind: str, token: SecretStr) -> bytes:
        return self._cipher.encrypt(token.get_secret_value(), f"{partner_id}:{kind}")

    def _dec(self, partner_id: str, kind: str, blob: bytes) -> SecretStr:
        try:
            return SecretStr(self._cipher.decrypt(bytes(blob), f"{partner_id}:{kind}"))
        except DecryptionError as exc:
            raise QboAuthError(f"stored {kind} token cannot be decrypted: {exc}") from None

    def _token_columns(self, partner_id: str, tokens: TokenSet) -> tuple[object, ...]:
        """The encrypted tokens, key id and expiries, in the column order both writers use."""
        return (
            self._enc(partner_id, "access", tokens.access_token),
            self._enc(partner_id, "refresh", tokens.refresh_token),
            self._cipher.current_kid,
            tokens.access_expires_at,
            tokens.refresh_expires_at,
            tokens.refresh_hard_expires_at,
        )

    def _usable(self, row: asyncpg.Record | None) -> asyncpg.Record:
        """The connection's row, when its tokens can be used."""
        if row is None:
            raise QboAuthError("partner has no QBO connection")
        if row["state"] == "disconnected" or row["refresh_token_enc"] is None:
            raise QboAuthError("QBO connection is disconnected; the partner must reconnect")
        return row

    def _access(self, row: asyncpg.Record) -> AccessToken:
        return AccessToken(
            partner_id=row["partner_id"],
            realm_id=row["realm_id"],
            token=self._dec(row["partner_id"], "access", row["access_token_enc"]),
            version=row["token_version"],
            expires_at=row["access_expires_at"],
        )

    def _fresh(self, row: asyncpg.Record, margin: timedelta) -> bool:
        expires = row["access_expires_at"]
        return (
            row["access_token_enc"] is not None
            and expires is not None
            and expires > datetime.now(UTC) + margin
        )

    # --- public API ---------------------------------------------------------------------------------

    async def save_connection(
        self,
        partner_id: str,
        realm_id: str,
        tokens: TokenSet,
        *,
        company_name: str | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> int:
        """Store the tokens of a (re)connect. A disconnected connection starts onboarding again; any other
        state is left for the workflow to move. Returns the new `token_version`.

        A live connection never moves to another realm here (PRODUCT.md §5): the callback decides that
        first (`rules.connection`), and this statement refuses it again (`RealmMismatch`) as a second line.
        Pass `conn` to store inside the caller's transaction."""
        version = await (conn or self._pool).fetchval(
            """
            INSERT INTO qbo_connections (partner_id, realm_id, state, company_name, access_token_enc,
                refresh_token_enc, token_key_id, access_expires_at, refresh_expires_at, refresh_hard_expires_at,
                token_version)
            VALUES ($1, $2, 'onboarding', $3, $4, $5, $6, $7, $8, $9, 1)
            ON CONFLICT (partner_id) DO UPDATE SET
                realm_id = EXCLUDED.realm_id,
                company_name = COALESCE(EXCLUDED.company_name, qbo_connections.company_name),
                access_token_enc = EXCLUDED.access_token_enc,
                refresh_token_enc = EXCLUDED.refresh_token_enc,
                token_key_id = EXCLUDED.token_key_id,
                access_expires_at = EXCLUDED.access_expires_at,
                refresh_expires_at = EXCLUDED.refresh_expires_at,
                refresh_hard_expires_at = COALESCE(EXCLUDED.refresh_hard_expires_at,
                                                   qbo_connections.refresh_hard_expires_at),
                token_version = qbo_connections.token_version + 1,
                state = CASE WHEN qbo_connections.state = 'disconnected' THEN 'onboarding'
                             ELSE qbo_connections.state END,
                disconnected_at = NULL,
                connected_at = now(),
                updated_at = now()
            WHERE qbo_connections.realm_id = EXCLUDED.realm_id OR qbo_connections.state = 'disconnected'
            RETURNING token_version
            """,
            partner_id,
            realm_id,
            company_name,
            *self._token_columns(partner_id, tokens),
        )
        if version is None:
            raise RealmMismatch(f"partner {partner_id} is connected to another QuickBooks company")
        log.info("stored QBO tokens for partner %s realm %s (version %s)", partner_id, realm_id, version)
        return int(version)

    async def connection(self, partner_id: str) -> ConnectionTokens | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM qbo_connections WHERE partner_id = $1", partner_id
        )
        if row is None:
            return None
        return ConnectionTokens(
            partner_id=row["partner_id"],
            realm_id=row["realm_id"],
            state=row["state"],
            access_expires_at=row["access_expires_at"],
            refresh_expires_at=row["refresh_expires_at"],
            refresh_hard_expires_at=row["refresh_hard_expires_at"],
            token_version=row["token_version"],
        )

    async def get_access_token(self, partner_id: str) -> AccessToken:
        """A token valid for at least `refresh_margin`; refreshes (single-flight) when it is not."""
        row = self._usable(await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM qbo_connections WHERE partner_id = $1", partner_id
        ))
        if self._fresh(row, self.refresh_margin):
            return self._access(row)
        return await self.refresh(partner_id)

    async def refresh(self, partner_id: str, *, seen_version: int | None = None) -> AccessToken:
        """Refresh under the row lock. With `seen_version` (after a 401): refresh unless the row moved past
        that version. Without: refresh unless the access token is (now) fresh."""
        async with self._local.setdefault(partner_id, asyncio.Lock()), self._refreshing:
            return await self._refresh_locked(partner_id, seen_version)

    async def _refresh_locked(self, partner_id: str, seen_version: int | None) -> AccessToken:
        rejected: bytes | None = None
        for _attempt in range(2):  # the one documented retry: re-read after invalid_grant (§10.3)
            async with self._pool.acquire() as conn, conn.transaction():
                row = self._usable(await conn.fetchrow(
                    f"SELECT {_COLUMNS} FROM qbo_connections WHERE partner_id = $1 FOR UPDATE", partner_id
                ))
                if (
                    seen_version is not None
                    and row["token_version"] != seen_version
                    and self._fresh(row, timedelta())
                ):
                    return self._access(row)  # another refresher already did it
                if seen_version is None and self._fresh(row, self.refresh_margin):
                    return self._access(row)
                if rejected is not None and bytes(row["refresh_token_enc"]) == rejected:
                    break  # nobody rotated it: the grant is gone
                refresh_token = self._dec(partner_id, "refresh", row["refresh_token_enc"])
                try:
                    async with asyncio.timeout(self.refresh_timeout):
                        tokens = await self._oauth.refresh(refresh_token)
                except TimeoutError:
                    log.warning("token refresh for partner %s gave up after %ss; the lock is released and the "
                                "stored tokens are unchanged", partner_id, self.refresh_timeout)
                    raise QboTransportError(
                        f"Intuit's token endpoint did not answer within {self.refresh_timeout:g}s"
                    ) from None
                except QboAuthError as exc:
                    if not is_invalid_grant(exc):
                        QBO_TOKEN_REFRESHES.labels("error").inc()
                        raise
                    QBO_TOKEN_REFRESHES.labels("invalid_grant").inc()
                    rejected = bytes(row["refresh_token_enc"])
                    log.warning(
                        "refresh token rejected for partner %s (invalid_grant); re-reading once", partner_id
                    )
                    continue  # commit nothing, release the lock, re-read
                except Exception:
                    QBO_TOKEN_REFRESHES.labels("error").inc()  # 5xx, 429, transport: retried by Temporal
                    raise
                QBO_TOKEN_REFRESHES.labels("ok").inc()
                version = await self._store_refreshed(conn, partner_id, tokens)
            log.info(
                "refreshed QBO tokens for partner %s realm %s (version %s)",
                partner_id,
                row["realm_id"],
                version,
            )
            return AccessToken(
                partner_id, row["realm_id"], tokens.access_token, version, tokens.access_expires_at
            )
        raise QboAuthError(
            "QBO refused the refresh token (invalid_grant): expired, revoked or superseded; the partner must reconnect",
            status=400,
            code="invalid_grant",
        )

    async def _store_refreshed(self, conn: asyncpg.pool.PoolConnectionProxy, partner_id: str, tokens: TokenSet) -> int:
        return int(
            await conn.fetchval(
                """
                UPDATE qbo_connections SET
                    access_token_enc = $2, refresh_token_enc = $3, token_key_id = $4,
                    access_expires_at = $5, refresh_expires_at = COALESCE($6, refresh_expires_at),
                    refresh_hard_expires_at = COALESCE($7, refresh_hard_expires_at),
                    token_version = token_version + 1, updated_at = now()
                WHERE partner_id = $1
                RETURNING token_version
                """,
                partner_id,
                *self._token_columns(partner_id, tokens),
            )
        )

    async def disconnect(self, partner_id: str) -> None:
        """Revoke at Intuit (§10.4) and forget the tokens; the connection row and its data stay.

        A token QBO already considers invalid (400) counts as revoked. Transient failures raise (retryable)
        and leave the tokens in place, so a retry can still revoke them."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM qbo_connections WHERE partner_id = $1 FOR UPDATE", partner_id
            )
            if row is None:
                return
            if row["refresh_token_enc"] is not None:
                try:
                    await self._oauth.revoke(self._dec(partner_id, "refresh", row["refresh_token_enc"]))
                except (QboAuthError, QboValidationError, QboStaleObject) as exc:
                    log.info("revoke for partner %s: token already unusable (%s)", partner_id, exc.code)
            await conn.execute(
                """
                UPDATE qbo_connections SET access_token_enc = NULL, refresh_token_enc = NULL, token_key_id = NULL,
                    access_expires_at = NULL, state = 'disconnected', disconnected_at = now(),
                    token_version = token_version + 1, updated_at = now()
                WHERE partner_id = $1
                """,
                partner_id,
            )
        log.info("disconnected QBO for partner %s realm %s", partner_id, row["realm_id"])

    async def rewrap(self, partner_id: str) -> bool:
        """Re-encrypt a connection's tokens with the current key (key rotation). True if anything changed."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT access_token_enc, refresh_token_enc FROM qbo_connections WHERE partner_id = $1 FOR UPDATE",
                partner_id,
            )
            if row is None or row["refresh_token_enc"] is None:
                return False
            blobs = {k: bytes(row[f"{k}_token_enc"]) for k in ("access", "refresh") if row[f"{k}_token_enc"]}
            if not any(self._cipher.needs_rewrap(b) for b in blobs.values()):
                return False
            new = {k: self._enc(partner_id, k, self._dec(partner_id, k, b)) for k, b in blobs.items()}
            await conn.execute(
                "UPDATE qbo_connections SET access_token_enc = $2, refresh_token_enc = $3, token_key_id = $4 "
                "WHERE partner_id = $1",
                partner_id,
                new.get("access"),
                new["refresh"],
                self._cipher.current_kid,
            )
            return True

    async def rewrap_all(self, *, page: int = 500) -> dict[str, object]:
        """Re-encrypt every stored token under the current (first) key: `python -m starter rotate-keys`.

        Each connection is rewrapped in its own short transaction (`rewrap`, under the row lock, so a
        concurrent refresh is never lost), walking partner ids in order: an interrupted run has committed
        what it did, and running it again skips what is already under the current key (idempotent). A
        token that can't be decrypted (its key is not configured) is reported, not fatal. `stored_by_key`
        counts the stored ciphertexts per key id after the run: an old key can be retired once it has none."""
        checked = rewrapped = 0
        failed: dict[str, str] = {}
        after = ""
        while True:
            ids = [r["partner_id"] for r in await self._pool.fetch(
                "SELECT partner_id FROM qbo_connections WHERE partner_id > $1 AND refresh_token_enc IS NOT NULL "
                "ORDER BY partner_id LIMIT $2", after, page)]
            if not ids:
                break
            for partner_id in ids:
                checked += 1
                try:
                    rewrapped += await self.rewrap(partner_id)
                except QboAuthError as exc:
                    failed[partner_id] = exc.message
                    log.warning("partner %s: tokens not rewrapped: %s", partner_id, exc.message)
            after = ids[-1]
        rows = await self._pool.fetch(
            """
            SELECT kid, count(*) AS n FROM (
                SELECT convert_from(substring(blob FROM 3 FOR get_byte(blob, 1)), 'UTF8') AS kid
                FROM qbo_connections, LATERAL (VALUES (access_token_enc), (refresh_token_enc)) AS t(blob)
                WHERE blob IS NOT NULL) k
            GROUP BY kid ORDER BY kid
            """
        )
        log.info("rotate-keys: %s checked, %s rewrapped under key %s, %s failed",
                 checked, rewrapped, self._cipher.current_kid, len(failed))
        return {"current_key": self._cipher.current_kid, "checked": checked, "rewrapped": rewrapped,
                "failed": failed, "stored_by_key": {r["kid"]: int(r["n"]) for r in rows}}
