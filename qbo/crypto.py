"""Token encryption at rest (AES-256-GCM) with key ids, so keys can rotate.

`TOKEN_ENCRYPTION_KEY` is `kid:urlsafe-b64-32-bytes[,kid:key…]`; the first key encrypts, all of them
decrypt. Each ciphertext carries its key id (`v1 | len(kid) | kid | nonce | ciphertext+tag`) and is bound by
associated data to its partner and field, so a value copied to another row or column fails to decrypt.
A second key for signing OAuth `state` is derived from each encryption key with HKDF (distinct purpose,
never the raw key twice).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

_VERSION = b"\x01"


class DecryptionError(Exception):
    """A ciphertext whose key id is not configured, or that fails authentication."""


@dataclass(frozen=True, repr=False)
class _Key:
    kid: str
    material: bytes

    def __repr__(self) -> str:
        return f"_Key(kid={self.kid!r})"


def _parse_keys(setting: str) -> list[_Key]:
    keys = []
    for part in (p.strip() for p in setting.split(",") if p.strip()):
        kid, sep, b64 = part.partition(":")
        if not sep:  # a bare key: give it a stable id
            kid, b64 = "k0", part
        raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        if len(raw) != 32:
            raise ValueError(f"TOKEN_ENCRYPTION_KEY {kid!r}: need 32 bytes, got {len(raw)}")
        if not kid or len(kid.encode()) > 255:
            raise ValueError("TOKEN_ENCRYPTION_KEY: bad key id")
        keys.append(_Key(kid, raw))
    if not keys:
        raise ValueError("TOKEN_ENCRYPTION_KEY is empty")
    if len({k.kid for k in keys}) != len(keys):
        raise ValueError("TOKEN_ENCRYPTION_KEY: duplicate key id")
    return keys


class TokenCipher:
    """Encrypts with the current key, decrypts with any configured key."""

    def __init__(self, setting: SecretStr | str) -> None:
        raw = setting.get_secret_value() if isinstance(setting, SecretStr) else setting
        self._keys = _parse_keys(raw)
        self._by_id = {k.kid: k for k in self._keys}

    def __repr__(self) -> str:
        return f"TokenCipher(current={self.current_kid!r}, kids={list(self._by_id)!r})"

    @property
    def current_kid(self) -> str:
        return self._keys[0].kid

    def encrypt(self, plaintext: str, aad: str) -> bytes:
        key = self._keys[0]
        nonce = os.urandom(12)
        ct = AESGCM(key.material).encrypt(nonce, plaintext.encode(), aad.encode())
        kid = key.kid.encode()
        return _VERSION + bytes([len(kid)]) + kid + nonce + ct

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        if not blob or blob[:1] != _VERSION:
            raise DecryptionError("unknown ciphertext format")
        n = blob[1]
        return blob[2 : 2 + n].decode()

    def decrypt(self, blob: bytes, aad: str) -> str:
        kid = self.key_id_of(blob)
        key = self._by_id.get(kid)
        if key is None:
            raise DecryptionError(f"token encrypted with key {kid!r}, which is not configured")
        body = blob[2 + len(kid.encode()) :]
        nonce, ct = body[:12], body[12:]
        try:
            return AESGCM(key.material).decrypt(nonce, ct, aad.encode()).decode()
        except InvalidTag:
            raise DecryptionError(f"token ciphertext failed authentication (key {kid!r})") from None

    def needs_rewrap(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self.current_kid

    def derived_keys(self, purpose: str) -> list[tuple[str, bytes]]:
        """(kid, key) per configured key, HKDF-SHA256 with `purpose` as info; the first is current."""
        out = []
        for key in self._keys:
            hkdf = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"qbo-integration:" + purpose.encode()
            )
            out.append((key.kid, hkdf.derive(key.material)))
        return out
