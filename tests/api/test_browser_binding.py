"""The OAuth flow is bound to the browser that started it (issue 14 item 4): a forwarded consent link
opened in another browser can't attach a company to the partner, even with a valid, unused state; a
dashboard on another origin binds the partner's browser through the single-use start link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

import httpx

from tests.api.conftest import assert_error, running_app, snapshot


@asynccontextmanager
async def browsers(settings, task_queue: str) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient,
                                                                      httpx.AsyncClient]]:
    """Three clients of one running app, each with its own cookie jar (browsers, or a dashboard's server)."""
    async with running_app(settings, task_queue) as (app, first):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as second, \
                httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as third:
            yield first, second, third


async def consent(url: str, realm: str) -> str:
    """Consent at the emulator → the callback's path and query."""
    async with httpx.AsyncClient(follow_redirects=False) as intuit:
        location = urlsplit((await intuit.get(f"{url}&realmId={realm}")).headers["location"])
    return f"{location.path}?{location.query}"


async def test_a_forwarded_consent_link_is_refused_in_another_browser(api_settings, task_queue, emu,
                                                                      db_pool) -> None:
    async with browsers(api_settings, task_queue) as (partner, other, _):
        pid = (await partner.post("/partners", json={"name": "Bound"})).json()["id"]
        url = (await partner.post(f"/partners/{pid}/qbo/connect")).json()["authorize_url"]
        callback = await consent(url, await emu.create_company(customers=1, invoices=0))
        before = await snapshot(db_pool, pid)

        err = assert_error(await other.get(callback), 400, "browser_mismatch")
        assert "another browser" in err["message"]
        page = await other.get(callback, headers={"Accept": "text/html"})
        assert page.status_code == 400 and "browser_mismatch" in page.text
        cookie = next(iter(partner.cookies.jar))
        guess = ("y" if cookie.value.startswith("x") else "x") + cookie.value[1:]  # always differs
        other.cookies.set(cookie.name, guess, domain=cookie.domain, path=cookie.path)
        guessed = await other.get(callback)
        assert cookie.name in guessed.request.headers.get("cookie", ""), "the guessed cookie was not sent"
        assert_error(guessed, 400, "browser_mismatch")
        assert await snapshot(db_pool, pid) == before

        done = await partner.get(callback)  # the refusals did not use the state up
        assert done.status_code == 200 and "connected" in done.text, done.text
        assert not partner.cookies, "the callback leaves its cookie behind"


async def test_connect_sets_a_short_lived_httponly_lax_cookie(api_settings, task_queue) -> None:
    https = api_settings.model_copy(update={"qbo_redirect_uri": "https://api.example/oauth/qbo/callback"})
    for settings, secure in ((api_settings, False), (https, True)):
        async with running_app(settings, task_queue) as (_, http):
            pid = (await http.post("/partners", json={"name": "Cookie"})).json()["id"]
            resp = await http.post(f"/partners/{pid}/qbo/connect")
            header = resp.headers["set-cookie"]
            morsel = next(iter(SimpleCookie(header).values()))
            assert morsel["httponly"] and morsel["samesite"].lower() == "lax" and morsel["path"] == "/oauth/qbo/"
            assert morsel["max-age"] == "600"
            assert bool(morsel["secure"]) is secure, header
            state = dict(parse_qsl(urlsplit(resp.json()["authorize_url"]).query))["state"]
            assert morsel.value not in state and state not in header  # the cookie is not the state


async def test_another_origin_binds_the_browser_with_the_single_use_start_link(api_settings, task_queue, emu,
                                                                               db_pool) -> None:
    async with browsers(api_settings, task_queue) as (backend, browser, third):
        pid = (await backend.post("/partners", json={"name": "Cross-origin"})).json()["id"]
        connect = (await backend.post(f"/partners/{pid}/qbo/connect")).json()
        start = urlsplit(connect["start_url"])
        assert start.path == "/oauth/qbo/start"
        start_path = f"{start.path}?{start.query}"

        redirect = await browser.get(start_path)  # the dashboard sends the partner's browser here
        assert redirect.status_code == 302 and redirect.headers["location"] == connect["authorize_url"]
        assert browser.cookies
        assert_error(await third.get(start_path), 400, "invalid_state", "already opened")
        callback = await consent(redirect.headers["location"], await emu.create_company(customers=1, invoices=0))
        assert_error(await third.get(callback), 400, "browser_mismatch")
        done = await browser.get(callback)
        assert done.status_code == 200 and "connected" in done.text, done.text
        assert_error(await browser.get(start_path), 400, "invalid_state")  # used: nothing to start
