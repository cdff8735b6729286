"""Token encryption with key ids and rotation; signed, expiring, one-time OAuth state."""

from __future__ import annotations

import base64
import os
import time
import uuid

import pytest

from qbo.crypto import DecryptionError, TokenCipher
from qbo.oauth import OAuthStateError, StateSigner


def _key(kid: str) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_round_trip_and_key_id_in_ciphertext() -> None:
    cipher = TokenCipher(_key("k1"))
    blob = cipher.encrypt("secret-token-value", "p1:refresh")
    assert b"secret-token-value" not in blob
    assert TokenCipher.key_id_of(blob) == "k1"
    assert cipher.decrypt(blob, "p1:refresh") == "secret-token-value"
    assert cipher.encrypt("same", "a") != cipher.encrypt("same", "a")  # fresh nonce each time


def test_ciphertext_is_bound_to_partner_and_field() -> None:
    cipher = TokenCipher(_key("k1"))
    blob = cipher.encrypt("tok", "p1:refresh")
    for wrong in ("p2:refresh", "p1:access"):
        with pytest.raises(DecryptionError):
            cipher.decrypt(blob, wrong)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptionError):
        cipher.decrypt(tampered, "p1:refresh")


def test_rotation_old_key_decrypts_new_key_encrypts() -> None:
    old, new = _key("k1"), _key("k2")
    before = TokenCipher(old).encrypt("tok", "aad")
    rotated = TokenCipher(f"{new},{old}")
    assert rotated.decrypt(before, "aad") == "tok"
    assert rotated.needs_rewrap(before)
    after = rotated.encrypt("tok", "aad")
    assert TokenCipher.key_id_of(after) == "k2" and not rotated.needs_rewrap(after)
    with pytest.raises(DecryptionError, match="not configured"):
        TokenCipher(old).decrypt(after, "aad")


def test_bad_key_settings() -> None:
    with pytest.raises(ValueError):
        TokenCipher("k1:" + base64.urlsafe_b64encode(b"short").decode())
    with pytest.raises(ValueError):
        TokenCipher(f"{_key('k1')},{_key('k1')}")
    assert "k1" in repr(TokenCipher(_key("k1")))


def test_state_sign_verify_tamper_expiry() -> None:
    signer = StateSigner(TokenCipher(_key("k1")))
    state = signer.sign("partner-1", "nonce-1", int(time.time()) + 60)
    assert signer.verify(state) == ("partner-1", "nonce-1")
    payload, mac = state.split(".")
    forged = (
        base64.urlsafe_b64encode(b'{"p":"partner-2","n":"nonce-1","e":9999999999,"k":"k1"}')
        .decode()
        .rstrip("=")
    )
    with pytest.raises(OAuthStateError):
        signer.verify(f"{forged}.{mac}")
    with pytest.raises(OAuthStateError):
        signer.verify(state, now=time.time() + 61)
    with pytest.raises(OAuthStateError):
        StateSigner(TokenCipher(_key("k1"))).verify(state)  # another deployment's key
    with pytest.raises(OAuthStateError):
        signer.verify("garbage")


def test_state_survives_key_rotation() -> None:
    old = _key("k1")
    state = StateSigner(TokenCipher(old)).sign("p", "n", int(time.time()) + 60)
    assert StateSigner(TokenCipher(f"{_key('k2')},{old}")).verify(state) == ("p", "n")


async def test_state_is_one_time_and_bound_to_partner(db_settings, db_pool) -> None:
    from qbo.client import QboApi

    api = QboApi(db_settings, db_pool)
    try:
        partner = f"p-{uuid.uuid4().hex[:8]}"
        other = f"p-{uuid.uuid4().hex[:8]}"
        await db_pool.executemany("INSERT INTO partners (id, name) VALUES ($1, $1)", [(partner,), (other,)])
        url = await api.oauth.authorize_url(db_pool, partner)
        assert "response_type=code" in url and "scope=com.intuit.quickbooks.accounting" in url
        state = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["state"]
        from urllib.parse import unquote

        state = unquote(state)
        with pytest.raises(OAuthStateError, match="another partner"):
            await api.oauth.consume_state(db_pool, state, partner_id=other)
        assert await api.oauth.consume_state(db_pool, state, partner_id=partner) == partner
        with pytest.raises(OAuthStateError, match="already used"):
            await api.oauth.consume_state(db_pool, state)
    finally:
        await api.aclose()
