"""Hostile OAuth callbacks that carry a *valid* state (issue 14 "Done when"): the campaign in
test_api_hostile.py only meets forged or garbage states, which stop at the first check. Here every request
gets through the state check and meets the later ones: a forged `realmId` (not a company id, another
company's id, another partner's live company), and a state replayed from another browser (no binding
cookie, a guessed cookie). Each is refused with a 4xx in the error shape and changes nothing; counted like
the other campaigns."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from tests.api.conftest import assert_error, running_app, snapshot
from tests.campaigns.tally import record
from tests.campaigns.test_api_hostile import HOSTILE_IDS, _quote

FORGED_REALMS = ["12a4", "../../v3/company/1", "1" * 21, "-1", " 1", "١٢٣", "1;DROP", "%2e%2e", "0x10", ""]


async def _consented(http: httpx.AsyncClient, pid: str, realm: str) -> tuple[str, dict[str, str]]:
    url = (await http.post(f"/partners/{pid}/qbo/connect")).json()["authorize_url"]
    async with httpx.AsyncClient(follow_redirects=False) as intuit:
        location = urlsplit((await intuit.get(f"{url}&realmId={realm}")).headers["location"])
    return location.path, dict(parse_qsl(location.query))


def _judge(campaign: str, resp: httpx.Response, *codes: str) -> None:
    assert resp.status_code < 500, resp.text[:300]
    err = assert_error(resp, resp.status_code)
    assert 400 <= resp.status_code < 500 and err["code"] in codes, (resp.status_code, err)
    record(campaign, f"rejected {resp.status_code} {err['code']}")


async def test_valid_states_with_forged_realms_or_from_another_browser(api_settings, task_queue, emu, db_pool,
                                                                        connected) -> None:
    victim = connected["realm"]
    async with running_app(api_settings, task_queue) as (app, browser):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as elsewhere:
            pid = (await browser.post("/partners", json={"name": "Campaign"})).json()["id"]
            own = await emu.create_company(customers=1, invoices=0)
            other = await emu.create_company(customers=1, invoices=0)
            before = await snapshot(db_pool, pid)
            for forged in [*FORGED_REALMS, other, victim]:
                path, query = await _consented(browser, pid, own)
                resp = await browser.get(f"{path}?{urlencode({**query, 'realmId': forged})}")
                _judge("oauth callback forged realmId (valid state)", resp, "bad_callback", "realm_not_confirmed")
            for guess in (None, "x", "A" * 43):
                path, query = await _consented(browser, pid, own)
                elsewhere.cookies.clear()
                if guess is not None:
                    real = next(iter(browser.cookies.jar))
                    elsewhere.cookies.set(real.name, guess, domain=real.domain, path=real.path)
                resp = await elsewhere.get(f"{path}?{urlencode(query)}")
                assert (guess is None) != (f"={guess}" in resp.request.headers.get("cookie", "")), "guess not sent"
                _judge("oauth callback replayed from another browser", resp, "browser_mismatch")
            assert await snapshot(db_pool, pid) == before
            victim_row = await db_pool.fetchrow("SELECT state, realm_id FROM qbo_connections WHERE partner_id = $1",
                                                connected["pid"])
            assert dict(victim_row) == {"state": "active", "realm_id": victim}


async def test_valid_states_with_hostile_codes_errors_or_missing_parts(api_settings, task_queue, emu,
                                                                        db_pool) -> None:
    """A valid state from the right browser, consented at the emulator, then the rest of the callback made
    hostile: a garbage or injected `code` (the token endpoint refuses it), an `error` (consent refused,
    whatever its text), `code` or `realmId` dropped. Each is a 4xx naming that cause, stores nothing, and
    uses the state up (replaying it is invalid_state)."""
    async with running_app(api_settings, task_queue) as (_, browser):
        pid = (await browser.post("/partners", json={"name": "Campaign codes"})).json()["id"]
        own = await emu.create_company(customers=1, invoices=0)
        before = await snapshot(db_pool, pid)

        async def refused(campaign: str, change: dict[str, str | None], *codes: str) -> None:
            path, query = await _consented(browser, pid, own)
            assert set(query) >= {"state", "code", "realmId"}, query
            params = {k: v for k, v in {**query, **change}.items() if v is not None}
            resp = await browser.get(f"{path}?" + "&".join(f"{k}={_quote(v)}" for k, v in params.items()))
            _judge(campaign, resp, *codes)
            replay = await browser.get(f"{path}?{urlencode(query)}")  # the genuine callback, state used up
            assert replay.status_code == 400, ("the refused callback left its state usable", replay.text[:300])
            _judge("oauth callback replayed after a refusal", replay, "invalid_state")

        for bad in [*HOSTILE_IDS, "", "a" * 10_000]:
            code = "bad_callback" if bad == "" else "code_exchange_failed"
            await refused("oauth callback hostile code (valid state)", {"code": bad}, code)
        for error in ["access_denied", "invalid_scope", *HOSTILE_IDS]:
            await refused("oauth callback error (valid state)", {"error": error}, "consent_refused")
        for dropped in ("code", "realmId"):
            await refused("oauth callback missing part (valid state)", {dropped: None}, "bad_callback")
        assert await snapshot(db_pool, pid) == before
        assert await db_pool.fetchval("SELECT count(*) FROM qbo_connections WHERE partner_id = $1", pid) == 0
