"""`python -m starter rotate-keys` (issue 14 item 8) as an operator runs it, against its own PostgreSQL
database (it rewraps every row, so not the session's shared one): every stored token ends up under the
first key, a run that was interrupted carries on, a second run changes nothing, a token under a key that
is no longer configured is reported (exit 3) without stopping the others, and the old key can then go."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from pydantic import SecretStr

from qbo.crypto import TokenCipher
from qbo.oauth import TokenSet
from qbo.tokens import TokenStore
from store.migrate import migrate

ROOT = Path(__file__).resolve().parents[2]


def _key(kid: str) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


def _rotate(database_url: str, keys: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEY": keys}
    return subprocess.run([sys.executable, "-m", "starter", "--json", "rotate-keys"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


async def _own_database(database_url: str) -> str:
    name = f"qbo_rotate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url


async def test_rotate_keys_rewraps_every_token_resumably(database_url) -> None:
    from store.db import create_pool

    url = await _own_database(database_url)
    old, new, gone = _key("old"), _key("new"), _key("gone")
    pool = await create_pool(url)
    try:
        def store(keys: str) -> TokenStore:
            return TokenStore(pool, TokenCipher(keys), oauth=None)  # type: ignore[arg-type]  # no Intuit call

        plain: dict[str, str] = {}
        for n in range(4):
            pid = f"p{n}"
            await pool.execute("INSERT INTO partners (id, name) VALUES ($1, $1)", pid)
            tokens = TokenSet(access_token=SecretStr(f"at-{pid}"), refresh_token=SecretStr(f"rt-{pid}"))
            await store(gone if n == 3 else old).save_connection(pid, f"{9000 + n}", tokens)
            plain[pid] = f"rt-{pid}"
        await pool.execute("INSERT INTO partners (id, name) VALUES ('p-off', 'off')")
        await pool.execute("INSERT INTO qbo_connections (partner_id, realm_id, state) "
                           "VALUES ('p-off', '9999', 'disconnected')")
        # An earlier run that was interrupted after p0: p0 is already under the new key.
        assert await store(f"{new},{old}").rewrap("p0") is True

        first = _rotate(url, f"{new},{old}")
        assert first.returncode == 3, first.stderr  # p3's key is not configured: reported, the rest done
        report = json.loads(first.stdout)
        assert report["current_key"] == "new" and report["checked"] == 4 and report["rewrapped"] == 2, report
        assert list(report["failed"]) == ["p3"] and "'gone'" in report["failed"]["p3"], report
        assert report["stored_by_key"] == {"new": 6, "gone": 2}, report
        assert "at-p" not in first.stdout + first.stderr and "rt-p" not in first.stdout + first.stderr

        # With the missing key configured too, a second run finishes the job and touches nothing else.
        before = {r["partner_id"]: bytes(r["refresh_token_enc"]) for r in await pool.fetch(
            "SELECT partner_id, refresh_token_enc FROM qbo_connections WHERE refresh_token_enc IS NOT NULL")}
        second = _rotate(url, f"{new},{old},{gone}")
        assert second.returncode == 0, second.stderr
        report = json.loads(second.stdout)
        assert (report["rewrapped"], report["failed"], report["stored_by_key"]) == (1, {}, {"new": 8}), report
        after = {r["partner_id"]: bytes(r["refresh_token_enc"]) for r in await pool.fetch(
            "SELECT partner_id, refresh_token_enc FROM qbo_connections WHERE refresh_token_enc IS NOT NULL")}
        assert {p for p in after if after[p] != before[p]} == {"p3"}  # idempotent for the others

        # The old keys can go: the new key alone reads every token.
        only_new = store(new)
        for pid, token in plain.items():
            row = await pool.fetchrow("SELECT refresh_token_enc, token_key_id FROM qbo_connections "
                                      "WHERE partner_id = $1", pid)
            assert only_new._dec(pid, "refresh", row["refresh_token_enc"]).get_secret_value() == token
            assert row["token_key_id"] == "new"
        third = _rotate(url, new)
        assert third.returncode == 0 and json.loads(third.stdout)["rewrapped"] == 0, third.stdout
    finally:
        await pool.close()
