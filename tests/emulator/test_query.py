"""The query language (qbo-reference §3): operators, AND, IN, LIKE, escapes, ORDERBY, paging,
count(*), inactive rows hidden unless asked, 4001 on errors; GET and POST forms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.emulator.support import Api, parse


@pytest.fixture
def people(company: Api) -> dict[str, dict]:
    names = ["Amy's Bird Sanctuary", "Robertson & Associates", "Müller GmbH", "Zoë O'Brien", "Plain Name"]
    out = {n: company.customer(n) for n in names}
    gone = company.customer("Gone Customer")
    company.update("Customer", {"Id": gone["Id"], "SyncToken": gone["SyncToken"], "sparse": True, "Active": False})
    out["Gone Customer"] = company.read("Customer", gone["Id"])
    return out


def names(api: Api, statement: str) -> list[str]:
    return [c["DisplayName"] for c in api.query(statement).get("Customer", [])]


def test_escaped_quote_ampersand_and_unicode(company: Api, people: dict) -> None:
    assert names(company, "SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'") == ["Amy's Bird Sanctuary"]
    assert names(company, "SELECT * FROM Customer WHERE DisplayName = 'Robertson & Associates'") == ["Robertson & Associates"]
    assert names(company, "SELECT * FROM Customer WHERE DisplayName = 'Müller GmbH'") == ["Müller GmbH"]
    # POST form with application/text (PQ, D-query)
    r = company.http.post("/query", content="select * from Customer where DisplayName = 'Zoë O\\'Brien'".encode(),
                          headers={**company.auth, "Content-Type": "application/text"})
    assert [c["DisplayName"] for c in parse(r)["QueryResponse"]["Customer"]] == ["Zoë O'Brien"]


def test_like_in_and_operators(company: Api, people: dict) -> None:
    assert names(company, "SELECT * FROM Customer WHERE DisplayName LIKE '%Bird%'") == ["Amy's Bird Sanctuary"]
    assert names(company, "SELECT * FROM Customer WHERE DisplayName LIKE 'Plain%'") == ["Plain Name"]
    ids = [people["Plain Name"]["Id"], people["Müller GmbH"]["Id"]]
    got = names(company, f"SELECT * FROM Customer WHERE Id IN ('{ids[0]}', '{ids[1]}') ORDERBY Id DESC")
    assert got == [people[n]["DisplayName"] for n in ("Plain Name", "Müller GmbH")]
    got = names(company, f"SELECT * FROM Customer WHERE Id >= '{ids[1]}' AND Id < '{ids[0]}'")
    assert got == ["Müller GmbH", "Zoë O'Brien"]
    assert names(company, "select * from Customer where DisplayName = 'No Such'") == []


def test_inactive_hidden_unless_asked(company: Api, people: dict) -> None:
    default = names(company, "SELECT * FROM Customer")
    assert "Gone Customer (deleted)" not in default and len(default) == 5
    every = names(company, "SELECT * FROM Customer WHERE Active IN (true, false)")
    assert "Gone Customer (deleted)" in every and len(every) == 6
    assert names(company, "SELECT * FROM Customer WHERE Active = false") == ["Gone Customer (deleted)"]
    assert company.query("SELECT COUNT(*) FROM Customer")["totalCount"] == 5
    assert company.query("SELECT COUNT(*) FROM Customer WHERE Active IN (true,false)")["totalCount"] == 6


def test_paging_and_count(company: Api) -> None:
    customer = company.customer("Pager")
    created = [company.invoice(customer["Id"], f"{n}.00") for n in range(1, 8)]
    assert company.query("SELECT count(*) FROM Invoice")["totalCount"] == 7
    first = company.query("SELECT * FROM Invoice ORDERBY Id STARTPOSITION 1 MAXRESULTS 3")
    second = company.query("SELECT * FROM Invoice ORDERBY Id STARTPOSITION 4 MAXRESULTS 3")
    third = company.query("SELECT * FROM Invoice ORDER BY Id ASC STARTPOSITION 7 MAXRESULTS 3")
    assert (first["startPosition"], first["maxResults"]) == (1, 3)
    assert (second["startPosition"], third["maxResults"]) == (4, 1)  # maxResults = rows returned
    got = [i["Id"] for page in (first, second, third) for i in page["Invoice"]]
    assert got == [i["Id"] for i in created]
    assert company.query("SELECT * FROM Invoice STARTPOSITION 8 MAXRESULTS 3") == {}
    by_amount = company.query("SELECT * FROM Invoice WHERE TotalAmt > '4.50' ORDERBY TotalAmt DESC")["Invoice"]
    assert [i["TotalAmt"] for i in by_amount] == [Decimal("7.00"), Decimal("6.00"), Decimal("5.00")]
    default_page = company.query("SELECT * FROM Invoice")
    assert default_page["maxResults"] == 7  # default MAXRESULTS 100


def test_page_cap_and_metadata_filter(seeded: Api) -> None:
    page = seeded.query("SELECT * FROM Invoice MAXRESULTS 5000")
    assert page["maxResults"] == 120  # under the 1000 cap
    newest = seeded.query("SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC MAXRESULTS 1")["Invoice"][0]
    since = newest["MetaData"]["LastUpdatedTime"]
    recent = seeded.query(f"SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '{since}'")["Invoice"]
    assert newest["Id"] in {i["Id"] for i in recent}
    unpaid = seeded.query("SELECT * FROM Invoice WHERE Balance > '0' MAXRESULTS 1000")["Invoice"]
    assert unpaid and all(i["Balance"] > 0 for i in unpaid)


def test_invalid_queries_are_4001(company: Api) -> None:
    for statement in ("SELECT * FROM Custmoer", "SELECT * FROM invoice", "SELECT Id FROM Invoice",
                      "SELECT * FROM Invoice WHERE", "SELECT * FROM Invoice WHERE TotalAmt > 1 OR Id = '1'",
                      "SELECT * FROM Customer WHERE NoSuchField = 'x'"):
        r = company.get("/query", query=statement)
        assert r.status_code == 400, statement
        assert parse(r)["Fault"]["Error"][0]["code"] == "4001", statement


def test_companyinfo_and_unmodelled_entities(company: Api) -> None:
    info = company.query("SELECT * FROM CompanyInfo")["CompanyInfo"][0]
    assert info["CompanyName"] == "Test Co"
    assert company.read("CompanyInfo", company.realm)["CompanyName"] == "Test Co"
    assert company.query("SELECT * FROM Vendor") == {}
