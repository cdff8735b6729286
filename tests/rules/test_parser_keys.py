"""Each parser reads no top-level key of a QBO object beyond its declared `keys` (rules/facts.py
CUSTOMER_KEYS, INVOICE_KEYS): the sync hands the parsers only those keys of an object's JSON
(qbo.jsonio.object_reader, activities/sync.py), so a parser that starts reading another key must declare it
here or the backfill and apply would decide without it."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import entities as synced
from rules.facts import BadQboPayload
from tests.rules.factories import load_fixture


class Recording(Mapping[str, Any]):
    """A JSON object that remembers every top-level key asked of it; iterating or sizing it counts as
    reading every key (a parser that copies the whole object)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data, self.read = data, set[str]()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self.data

    def __iter__(self) -> Iterator[str]:
        self.read.add("<every key>")
        return iter(self.data)

    def __len__(self) -> int:
        self.read.add("<every key>")
        return len(self.data)


def samples(entity: str) -> list[dict[str, Any]]:
    """Live, voided, deleted and enveloped objects from the real fixtures, with the optional fields set."""
    if entity == "Invoice":
        names = ["invoice_create_response.json", "invoice_read_before_void.json", "invoice_void_response.json",
                 "invoice_delete_response.json"]
        raws = [load_fixture(n) for n in names]
        raws.append(load_fixture("airbyte_record_invoice_12_paid_by_two_payments.json")["data"])
        foreign = copy.deepcopy(raws[0]["Invoice"])
        foreign.update(ExchangeRate="1.25", CurrencyRef={"value": "CAD"})
        raws.append(foreign)
    else:
        raws = [load_fixture(n) for n in ("customer_read.json", "customer_create_response.json",
                                           "customer_update_response.json")]
        inactive = copy.deepcopy(raws[0]["Customer"])
        inactive["Active"] = False
        raws.append(inactive)
    raws.append({"domain": "QBO", "status": "Deleted", "Id": "39",
                 "MetaData": {"LastUpdatedTime": "2026-01-05T09:00:00-08:00"}})
    unwrapped = [r[entity] for r in raws if entity in r]  # the object itself, as staging holds it
    return raws + unwrapped


@pytest.mark.parametrize("spec", synced.SYNCED, ids=lambda s: s.name)
def test_parsers_read_only_their_declared_keys(spec: synced.SyncedEntity) -> None:
    for raw in samples(spec.name):
        recorded = Recording(raw)
        spec.parse(recorded, "USD")
        inner = raw.get(spec.name)
        if "Id" not in raw and isinstance(inner, dict):  # an envelope: the parser reads the object inside
            recorded = Recording(inner)
            spec.parse({spec.name: recorded}, "USD")
        assert recorded.read <= spec.keys, sorted(recorded.read - spec.keys)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.decimals(places=2, allow_nan=False, allow_infinity=False),
                    lambda kids: st.lists(kids, max_size=2) | st.dictionaries(st.text(max_size=6), kids, max_size=2),
                    max_leaves=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parsers_read_only_their_declared_keys_on_odd_objects(data: st.DataObject) -> None:
    """Whatever an object holds (missing, null or malformed fields, unknown keys), the keys read stay within
    the declared ones, on the error paths too."""
    spec = data.draw(st.sampled_from(synced.SYNCED))
    raw = copy.deepcopy(data.draw(st.sampled_from(samples(spec.name))))
    keys = sorted(spec.keys | {"Line", "sparse", "domain", "Other"})
    for key, value in data.draw(st.lists(st.tuples(st.sampled_from(keys), st.just("<delete>") | JSON), max_size=4)):
        if value == "<delete>":
            raw.pop(key, None)
        else:
            raw[key] = value
    recorded = Recording(raw)
    try:
        spec.parse(recorded, "USD")
    except BadQboPayload:
        pass
    assert recorded.read <= spec.keys, sorted(recorded.read - spec.keys)
