"""JSON in and out without float: money stays `Decimal` on the wire both ways (qbo-reference §2).

`json.dumps` cannot write a `Decimal` as a number, and converting to float would round, so `dumps` writes
the JSON itself for the handful of types a QBO body holds. `loads` reads with msgspec (a C parser that hands
every non-integer number to `Decimal` as its text: exact), several times faster than `json` with
`parse_float` on a 1,000-object page; what msgspec refuses is read again by `json`, so the accepted input
and the errors are exactly `json`'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import msgspec
from pydantic import BaseModel

_FAST = msgspec.json.Decoder(float_hook=Decimal)
_string = json.encoder.encode_basestring  # what json.dumps(s, ensure_ascii=False) writes for a str


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(content: bytes | str) -> Any:
    """JSON with every non-integer number as an exact `Decimal`. Anything else (invalid JSON or UTF-8,
    `NaN`/`Infinity`, which Python would read as float, or nesting too deep to decode) is a `ValueError`."""
    try:
        return _FAST.decode(content)
    except msgspec.DecodeError:
        pass  # json decides: it accepts a few things msgspec does not (lone surrogate escapes) and says why
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    try:
        return json.loads(content, parse_float=Decimal, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def object_reader(keys: Iterable[str]) -> Callable[[bytes | str], Any]:
    """`loads` for a reader that looks at only `keys` of a JSON object: the same values for those keys,
    the others left out. The rest of the text is still checked to be JSON but builds nothing (no dict per
    invoice line, no Decimal per amount in it): the backfill reads an invoice's dozen top-level fields out
    of ~2 KB of lines and tax detail (issue 15). Anything that is not a JSON object with those keys as
    msgspec reads it (an array, invalid JSON, a lone surrogate escape) is read by `loads` whole, so the
    accepted input and the errors are exactly `loads`'s."""
    names = tuple(sorted(set(keys)))
    struct = msgspec.defstruct("Keys", [(k, Any, msgspec.UNSET) for k in names])
    decoder = msgspec.json.Decoder(struct, float_hook=Decimal)
    unset, wanted = msgspec.UNSET, frozenset(names)

    def read(content: bytes | str) -> Any:
        try:
            found = decoder.decode(content)
        except (msgspec.DecodeError, RecursionError):
            whole = loads(content)
            return {k: v for k, v in whole.items() if k in wanted} if isinstance(whole, dict) else whole
        return {k: v for k, v in zip(names, msgspec.structs.astuple(found), strict=True) if v is not unset}

    return read


def _encode(value: Any, out: list[str]) -> None:
    # Scalars are written directly (not through `json.dumps`, which builds a new encoder per call when
    # ensure_ascii=False): same bytes, several times faster on the backfill's staging path.
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("float in a QBO body: use Decimal for money")
    elif isinstance(value, datetime | date):
        out.append(_string(value.isoformat()))
    elif isinstance(value, BaseModel):
        _encode(value.model_dump(mode="python", exclude_none=True), out)
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(_string(str(k)))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} into a QBO body")


def dumps(value: Any) -> str:
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
