"""The QBO query language (qbo-reference §3), parsed and pushed down to SQLite.

    SELECT * | COUNT(*) FROM <Entity> [WHERE <cond> [AND <cond>]...]
      [ORDERBY|ORDER BY <prop> [ASC|DESC][, ...]] [STARTPOSITION n] [MAXRESULTS n]
    cond: <prop> (= | < | > | <= | >= | !=) <value> | <prop> IN (<value>, ...) | <prop> LIKE '<pattern>'

Strings are single-quoted with `\\'` escapes; `%` is the only LIKE wildcard. Keywords are
case-insensitive, entity names are not. Id, Active, MetaData times and DocNumber map to indexed
columns; other properties use json_extract on the stored document. Inactive name-list rows are
hidden unless the query constrains `Active` (§3). Any parse error is 4001.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from qbo_emulator.faults import QboFault, invalid_query
from qbo_emulator.wire import parse_instant

DEFAULT_MAX = 100
PAGE_CAP = 1000  # §3: MAXRESULTS above 1000 gets 1000 rows

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:\\.|[^'\\])*')
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),*])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""", re.VERBOSE)

NUMERIC_FIELDS = {"TotalAmt", "Balance", "UnappliedAmt", "RemainingCredit", "CurrentBalance",
                  "CurrentBalanceWithSubAccounts", "BalanceWithJobs", "Level", "HomeTotalAmt", "HomeBalance"}
TIME_FIELDS = {"metadata.lastupdatedtime": "updated_ms", "metadata.createtime": "created_ms"}


@dataclass
class Cond:
    prop: str
    op: str
    values: list[Any]


@dataclass
class Query:
    entity: str
    count: bool = False
    where: list[Cond] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (prop, descending)
    start: int = 1
    max_results: int = DEFAULT_MAX


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos, text = [], 0, text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise invalid_query(f"QueryParserError: Encountered \" {text[pos:pos + 20]!r} at column {pos + 1}.")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise invalid_query("QueryParserError: Encountered \"<EOF>\" unexpectedly.")
        self.i += 1
        return tok

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok[0] == "word" and tok[1].upper() in words:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        tok = self.take()
        if tok[0] != kind or (value is not None and tok[1].upper() != value):
            raise invalid_query(f"QueryParserError: Encountered \" {tok[1]} \" but expected {value or kind}.")
        return tok[1]

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
        if kind == "num":
            return Decimal(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise invalid_query(f"QueryParserError: Encountered \" {text} \" where a value was expected.")

    def parse(self) -> Query:
        self.expect("word", "SELECT")
        count = False
        if self.keyword("COUNT"):
            self.expect("punct", "(")
            self.expect("punct", "*")
            self.expect("punct", ")")
            count = True
        else:
            self.expect("punct", "*")
        self.expect("word", "FROM")
        q = Query(entity=self.expect("word"), count=count)
        if self.keyword("WHERE"):
            q.where.append(self.cond())
            while self.keyword("AND"):
                q.where.append(self.cond())
        while self.peek():
            if self.keyword("ORDERBY") or (self.keyword("ORDER") and self.expect("word", "BY")):
                q.order.append(self.order_item())
                while self.peek() == ("punct", ","):
                    self.take()
                    q.order.append(self.order_item())
            elif self.keyword("STARTPOSITION"):
                q.start = int(self.expect("num"))
            elif self.keyword("MAXRESULTS"):
                q.max_results = int(self.expect("num"))
            else:
                raise invalid_query(f"QueryParserError: Encountered \" {self.take()[1]} \".")
        return q

    def order_item(self) -> tuple[str, bool]:
        prop = self.expect("word")
        desc = False
        if self.keyword("DESC"):
            desc = True
        else:
            self.keyword("ASC")
        return prop, desc

    def cond(self) -> Cond:
        prop = self.expect("word")
        if self.keyword("IN"):
            self.expect("punct", "(")
            values = [self.value()]
            while self.peek() == ("punct", ","):
                self.take()
                values.append(self.value())
            self.expect("punct", ")")
            return Cond(prop, "IN", values)
        if self.keyword("LIKE"):
            return Cond(prop, "LIKE", [self.value()])
        op = self.expect("op")
        return Cond(prop, "!=" if op == "<>" else op, [self.value()])


def parse(text: str) -> Query:
    return _Parser(text).parse()


# --- SQL compilation ---------------------------------------------------------------------------------

def _column(prop: str, entity: str) -> tuple[str, str]:
    """(SQL expression, kind) for a property: kind is id | active | time | docnum | json."""
    key = prop.lower()
    if key == "id":
        return "id", "id"
    if key == "active":
        return "active", "active"
    if key in TIME_FIELDS:
        return TIME_FIELDS[key], "time"
    if key == "docnumber" and entity in ("Invoice", "CreditMemo"):
        return "doc_number", "docnum"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", prop):
        raise invalid_query(f"QueryValidationError: property '{prop}' is not queryable")
    return f"json_extract(doc, '$.{prop}')", "json"


def _bind(value: Any, kind: str, prop: str) -> Any:
    try:
        if kind == "id":
            return int(str(value))
        if kind == "active":
            return int(value is True or str(value).lower() == "true")
        if kind == "time":
            return int(parse_instant(str(value)) * 1000)
    except ValueError:
        raise invalid_query(f"QueryValidationError: value {value!r} is not valid for {prop}") from None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return str(value) if kind == "docnum" else float(value)
    if prop.rsplit(".", 1)[-1] in NUMERIC_FIELDS:
        try:  # `TotalAmt > '300.00'` in quotes works on QBO (fx:batch_request)
            return float(value)
        except ValueError:
            return value
    return value


def _like(pattern: str) -> str:
    # QBO has only `%`; a literal `_` must not be a wildcard in SQLite.
    return pattern.replace("\\", "\\\\").replace("_", "\\_")


def compile_where(q: Query, known: list[str], has_active: bool) -> tuple[str, list[Any]]:
    clauses, params = ["realm = ?", "entity = ?"], []
    constrains_active = False
    for cond in q.where:
        top = cond.prop.split(".", 1)[0]
        if top.lower() not in {"id", "active", "metadata"} and top not in known:
            raise invalid_query(f"QueryValidationError: property '{cond.prop}' is not queryable for {q.entity}")
        expr, kind = _column(cond.prop, q.entity)
        constrains_active |= kind == "active"
        if cond.op == "IN":
            values = [_bind(v, kind, cond.prop) for v in cond.values]
            clauses.append(f"{expr} IN ({','.join('?' * len(values))})")
            params.extend(values)
        elif cond.op == "LIKE":
            clauses.append(f"{expr} LIKE ? ESCAPE '\\'")
            params.append(_like(str(cond.values[0])))
        else:
            clauses.append(f"{expr} {cond.op} ?")
            params.append(_bind(cond.values[0], kind, cond.prop))
    if has_active and not constrains_active:
        clauses.append("active = 1")
    return " AND ".join(clauses), params


def compile_order(q: Query) -> str:
    parts = []
    for prop, desc in q.order:
        expr, _ = _column(prop, q.entity)
        parts.append(f"{expr} {'DESC' if desc else 'ASC'}")
    if not any(p.startswith("id ") for p in parts):
        parts.append("id ASC")
    return ", ".join(parts)


def page(q: Query) -> tuple[int, int]:
    """(limit, offset) from STARTPOSITION (1-based) and MAXRESULTS (default 100, capped at 1000)."""
    if q.max_results < 1:
        raise invalid_query("QueryValidationError: MAXRESULTS must be at least 1")
    return min(q.max_results, PAGE_CAP), max(q.start, 1) - 1


def ensure_entity(q: Query, supported: set[str], other: set[str]) -> bool:
    """True when the entity is modelled; False for a real QBO entity we do not model; 4001 otherwise."""
    if q.entity in supported:
        return True
    if q.entity in other:
        return False
    raise QboFault("4001", "Invalid query", f"QueryValidationError: invalid context declaration: {q.entity}")
