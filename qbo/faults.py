"""Reading QBO error bodies in every shape they come in, and mapping them to `qbo.errors`.

Shapes (qbo-reference §8.1): the standard `Fault` JSON (also inside batch items), the gateway 401 body with
lower-case keys and an epoch-ms `time`, XML `IntuitResponse/Fault` (throttling comes back as XML even when
JSON was asked for), and RFC 6749 OAuth errors. Map by HTTP status and code, never by fault `type` (§8.2).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from qbo.errors import (
    QboAuthError,
    QboClientConfigError,
    QboDeposited,
    QboDuplicate,
    QboError,
    QboNotFound,
    QboServerError,
    QboStaleObject,
    QboThrottled,
    QboUnauthorized,
    QboValidationError,
    scrub,
)
from qbo.jsonio import loads


@dataclass(frozen=True)
class FaultEntry:
    code: str | None
    message: str
    detail: str | None = None
    element: str | None = None


@dataclass(frozen=True)
class Fault:
    type: str | None
    errors: tuple[FaultEntry, ...]

    @property
    def first(self) -> FaultEntry:
        return self.errors[0] if self.errors else FaultEntry(code=None, message="QBO fault without an Error")


def _get(d: dict[str, Any], *names: str) -> Any:
    """Case-tolerant key lookup: `Fault`/`fault`, `Error`/`error`, `Message`/`message` (§8.1 item 2)."""
    for name in names:
        for key in (name, name.lower(), name[:1].lower() + name[1:]):
            if key in d:
                return d[key]
    return None


def fault_from_json(obj: Any) -> Fault | None:
    """The `Fault` of a JSON body (standard, gateway, or a batch item), or None if there is none."""
    if not isinstance(obj, dict):
        return None
    raw = _get(obj, "Fault")
    if not isinstance(raw, dict):
        return None
    errors = _get(raw, "Error")
    entries = []
    for err in errors if isinstance(errors, list) else []:
        if not isinstance(err, dict):
            continue
        code = _get(err, "code")
        entries.append(
            FaultEntry(
                code=str(code) if code is not None else None,
                message=str(_get(err, "Message") or ""),
                detail=_text_or_none(_get(err, "Detail")),
                element=_text_or_none(_get(err, "element")),
            )
        )
    return Fault(type=_text_or_none(_get(raw, "type")), errors=tuple(entries))


def _text_or_none(value: Any) -> str | None:
    """A fault field as text: whatever a server put there (number, object), never a non-string."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def fault_from_xml(text: str) -> Fault | None:
    """`<IntuitResponse><Fault type=…><Error code=…><Message/><Detail/>` (fx:throttle_exceeded_429.xml)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    fault = root if _local(root.tag) == "Fault" else next((e for e in root if _local(e.tag) == "Fault"), None)
    if fault is None:
        return None
    entries = []
    for err in (e for e in fault if _local(e.tag) == "Error"):
        fields = {_local(child.tag): (child.text or "").strip() for child in err}
        entries.append(
            FaultEntry(
                code=err.get("code"),
                message=fields.get("Message", ""),
                detail=fields.get("Detail") or None,
                element=err.get("element") or None,
            )
        )
    return Fault(type=fault.get("type"), errors=tuple(entries))


def parse_fault_body(content: bytes, content_type: str | None) -> Fault | None:
    """Whatever the declared content type: try JSON, then XML (§1.3 "must not assume an error body is JSON")."""
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            return fault_from_json(loads(text))
        except ValueError:
            return None
    if text.startswith("<"):
        return fault_from_xml(text)
    return None


_NOT_FOUND = {"610", "2030", "2500"}
_DUPLICATE = {"6140", "6240"}
_THROTTLE = "3001"
_STATUS_IN_MESSAGE = re.compile(r"statusCode=(\d{3})")


def error_for_fault(
    fault: Fault | None,
    *,
    status: int,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
    secrets: tuple[str, ...] = (),
) -> QboError:
    """The exception for a fault (or a bare status when the body could not be read)."""
    entry = fault.first if fault else FaultEntry(code=None, message=f"HTTP {status} from QBO")
    code = scrub(entry.code, secrets)  # every field a server writes may quote what it was sent
    kw: dict[str, Any] = dict(
        status=status,
        code=code,
        detail=scrub(entry.detail, secrets),
        element=scrub(entry.element, secrets),
        intuit_tid=intuit_tid,
        fault_type=fault.type if fault else None,
    )
    message = scrub(entry.message, secrets) or f"HTTP {status}"
    if code == _THROTTLE or status == 429:
        return QboThrottled(message, retry_after=retry_after, **kw)
    if status == 401:
        return QboUnauthorized(message, **kw)
    if status == 403 or code in ("3100", "120"):  # 3100 keys/realm mismatch, 120 lost access (§8.4)
        return QboAuthError(message, **kw)
    if status >= 500:
        return QboServerError(message, **kw)
    if code == "5010":
        return QboStaleObject(message, **kw)
    if code == "6540":
        return QboDeposited(message, **kw)
    if code in _DUPLICATE:
        return QboDuplicate(message, **kw)
    if code in _NOT_FOUND or status == 404:
        return QboNotFound(message, **kw)
    if status in (408, 409):
        return QboServerError(message, **kw)
    return QboValidationError(message, **kw)


def error_for_response(
    status: int,
    content: bytes,
    content_type: str | None,
    *,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
    secrets: tuple[str, ...] = (),
) -> QboError:
    """Map a non-2xx API response (any body shape) to an exception."""
    return error_for_fault(
        parse_fault_body(content, content_type),
        status=status,
        intuit_tid=intuit_tid,
        retry_after=retry_after,
        secrets=secrets,
    )


def oauth_error(status: int, content: bytes, *, intuit_tid: str | None = None) -> QboError:
    """Token/revoke endpoint errors: RFC 6749 `{"error","error_description"}` (fx:oauth_refresh_invalid_grant_error).

    The body is never copied beyond `error` and `error_description`, which carry no token.
    """
    error, description = None, None
    try:
        body = loads(content or b"{}")
        if isinstance(body, dict):
            error, description = (
                _text_or_none(body.get("error")),
                _text_or_none(body.get("error_description")),
            )
    except ValueError:
        pass
    message = f"OAuth {error or f'HTTP {status}'}" + (f": {description}" if description else "")
    kw: dict[str, Any] = dict(status=status, code=error, intuit_tid=intuit_tid)
    if status == 429:
        return QboThrottled(message, **kw)
    if status >= 500:
        return QboServerError(message, **kw)
    if error == "invalid_client" or status == 401:
        return QboClientConfigError(message, **kw)
    if error == "invalid_grant":
        return QboAuthError(message, **kw)
    return QboValidationError(message, **kw)


def is_invalid_grant(exc: BaseException) -> bool:
    return isinstance(exc, QboAuthError) and exc.code == "invalid_grant"
