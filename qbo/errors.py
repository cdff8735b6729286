"""The exception hierarchy the activities raise and Temporal retry policies match.

    QboError                      never raised itself; an unclassified fault is not retried blindly
    ├── QboAuthError              not retryable: the partner must reconnect
    ├── QboValidationError        not retryable: QBO will answer the same way every time
    │   ├── QboNotFound
    │   ├── QboDuplicate
    │   ├── QboDeposited
    │   ├── QboCdcWindowTooOld
    │   ├── RealmMismatch         (a live connection would move to another company)
    │   └── OAuthStateError       (a forged, expired or reused OAuth `state`)
    └── QboTransientError         retryable: a later attempt may succeed
        ├── QboUnauthorized       (internal: the client refreshes and retries once)
        ├── QboThrottled          (Retry-After becomes the next retry delay)
        ├── QboServerError
        │   └── QboTransportError
        ├── QboClientConfigError
        └── QboStaleObject        (a fresh attempt re-reads the object)

`retryable` is decided once per branch and every class below inherits it: a subclass never inverts its
parent's meaning (`QboStaleObject` used to be a retryable `QboValidationError`; code that treats a 5010
like a validation fault says so with `except (QboValidationError, QboStaleObject)`).
`NON_RETRYABLE_TYPES` is derived from the classes, so a new class lands in the retry policies by where it
sits in the tree, never by someone remembering a list (tests/qbo/test_error_hierarchy.py).

Temporal matches retryable/non-retryable errors by the *type name* of an `ApplicationError`, so the class
names below are a contract: renaming one silently changes retry behaviour. `to_application_error()` turns
any `QboError` into an `ApplicationError` whose `type` is the class name and whose `non_retryable` flag
says whether a retry could ever succeed.

Every exception carries what QBO said (HTTP status, fault code, message, detail, element) and the
`intuit_tid` trace id Intuit support asks for (qbo-reference §1.3). None of them ever carries a token or a
secret: the fault `Detail` of a 401 can quote the token (fx:fault_401_token_expired_3200), so details are
scrubbed (`scrub()`) before they are stored.

This module imports no I/O library, so anything (including code near workflows) may import it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

# "Token expired: AB0160…", "refresh_token=RT1-…", "Bearer eyJ…": anything that looks like a credential
# following a credential-ish word is replaced, whatever the server chose to echo.
_CREDENTIAL_RE = re.compile(
    r"(?i)\b((?:access|refresh|id)?[_ -]?token\b[^:=\n]{0,30}?[:=]\s*|bearer\s+|basic\s+)[\"']?[A-Za-z0-9._~+/=-]{6,}"
)
_TOKEN_RUN = r"[A-Za-z0-9._~+/=-]*"


def scrub(text: str | None, secrets: tuple[str, ...] = ()) -> str | None:
    """Remove known secret values (and any run starting with their first 12 characters, since servers quote
    truncated tokens) and credential-looking substrings from a server message."""
    if text is None:
        return None
    for secret in secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
            text = re.sub(re.escape(secret[:12]) + _TOKEN_RUN, "[redacted]", text)
    return _CREDENTIAL_RE.sub(lambda m: m.group(1) + "[redacted]", text)


class QboError(Exception):
    """Base class, never raised itself. `retryable` is set once per branch (see the tree above) and read
    by `to_application_error`; unclassified, it is False: a fault nobody understood is not retried blindly."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        element: str | None = None,
        intuit_tid: str | None = None,
        fault_type: str | None = None,
    ) -> None:
        self.message = scrub(message) or ""
        self.status = status
        self.code = code
        self.detail = scrub(detail)
        self.element = element or None
        self.intuit_tid = intuit_tid
        self.fault_type = fault_type
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [self.message]
        if self.detail and self.detail != self.message:
            parts.append(self.detail)
        meta = [
            f"status={self.status}" if self.status is not None else "",
            f"code={self.code}" if self.code else "",
        ]
        if self.element:
            meta.append(f"element={self.element}")
        if self.intuit_tid:
            meta.append(f"intuit_tid={self.intuit_tid}")
        tail = " ".join(m for m in meta if m)
        return " | ".join(parts) + (f" ({tail})" if tail else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (no secrets) for sync logs and activity results."""
        return {
            "type": type(self).__name__,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
            "element": self.element,
            "intuit_tid": self.intuit_tid,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._text()!r})"


class QboAuthError(QboError):
    """The connection cannot be used until the partner reconnects: refresh token invalid, expired or revoked
    (`invalid_grant`, qbo-reference §10.3), or a 401/403 that persists after a fresh token. The workflow
    moves to `needs_reconnect`; retrying the activity cannot help."""

    retryable = False


class QboValidationError(QboError):
    """A 400 QBO will answer the same way every time (2010, 2020, 4001, 6000, …). Non-retryable."""

    retryable = False


class QboNotFound(QboValidationError):
    """610 Object Not Found (deleted, inactive or wrong Id), 2030 Invalid ID, 2500 Invalid Reference, HTTP 404.
    Non-retryable."""


class QboDuplicate(QboValidationError):
    """6140 duplicate DocNumber / 6240 duplicate DisplayName (qbo-reference §5.1, §5.2). Non-retryable."""


class QboDeposited(QboValidationError):
    """6540 Deposited Transaction cannot be changed (qbo-reference §5.3). Non-retryable."""


class QboCdcWindowTooOld(QboValidationError):
    """CDC asked for changes older than the ~29-day look-back (qbo-reference §4). Raised before any request;
    the caller must run a full reconciliation sweep instead. Non-retryable."""


class RealmMismatch(QboValidationError):
    """A live connection would move to another realm: refused (PRODUCT.md §5). Raised by qbo/tokens.py;
    defined here so the derived retry list sees it whatever was imported first."""


class OAuthStateError(QboValidationError):
    """The callback's `state` is forged, expired, already used, or for another partner. Raised by
    qbo/oauth.py; defined here for the same reason as `RealmMismatch`."""


class QboTransientError(QboError):
    """A failure a later attempt may not meet: the branch every retryable error sits under. Never raised
    itself; it exists so the tree, not a flag on each leaf, says what Temporal retries."""

    retryable = True


class QboUnauthorized(QboTransientError):
    """A 401 on an API call (3200 "Token expired", qbo-reference §8.1 item 2). Internal: the client refreshes
    and retries once; if it is raised again it is converted to `QboAuthError`. Never escapes the client."""


class QboThrottled(QboTransientError):
    """429 / 3001 ThrottleExceeded (qbo-reference §9), or the per-realm cool-down after one. Retryable;
    `retry_after` (seconds) is a hint Temporal uses as the next retry delay."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class QboServerError(QboTransientError):
    """5xx, or a 200 that is not a QBO answer. Retryable (qbo-reference §8.3)."""


class QboTransportError(QboServerError):
    """No HTTP answer: connect error, timeout, broken connection. Retryable. For a write the outcome is
    unknown: retry with the same `requestid` after a natural-key lookup (qbo-reference §7.5)."""


class QboClientConfigError(QboTransientError):
    """Our app credentials are rejected by the token endpoint (`invalid_client`): every partner is affected
    and no partner action helps. Retryable, so activities recover by themselves once the deployment is fixed."""


class QboStaleObject(QboTransientError):
    """5010 Stale Object Error (qbo-reference §7.2): a 400, but not a validation fault, since the same request
    on a fresh read succeeds. The client's `retry_stale_once` re-reads and retries once; if it still escapes,
    a fresh activity attempt (which re-reads) may succeed, so it is retryable."""


def error_classes(root: type[QboError] = QboError) -> tuple[type[QboError], ...]:
    """`root` and every class below it, depth first in definition order. At import time of this module
    that is exactly the classes above: nothing outside qbo/errors.py may subclass `QboError` (tested), so
    the result does not depend on what else was imported, and workflow code reading it stays
    deterministic."""
    found: list[type[QboError]] = [root]
    for sub in root.__subclasses__():
        found += error_classes(sub)
    return tuple(found)


#: Type names for `RetryPolicy(non_retryable_error_types=...)`; recorded histories carry these names, so a
#: class is never renamed.
NON_RETRYABLE_TYPES: tuple[str, ...] = tuple(c.__name__ for c in error_classes() if not c.retryable)


def to_application_error(exc: QboError) -> Any:
    """`temporalio.exceptions.ApplicationError` for an activity to raise: type = class name, non_retryable
    from the class, Retry-After (if any) as the next retry delay. No secret can be in it: the message and
    details were scrubbed when the exception was built."""
    from temporalio.exceptions import ApplicationError

    delay = None
    if isinstance(exc, QboThrottled) and exc.retry_after:
        delay = timedelta(seconds=exc.retry_after)
    return ApplicationError(
        str(exc),
        exc.to_dict(),
        type=type(exc).__name__,
        non_retryable=not exc.retryable,
        next_retry_delay=delay,
    )
