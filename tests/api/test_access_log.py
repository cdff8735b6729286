"""No OAuth secret in the API's access log (issue 14 item 6): the callback's query string carries a live
authorization `code` and the one-time `state`; uvicorn's access log would print them. The real app is
served by a real uvicorn server configured as `python -m api` does, with the one logging setup."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import httpx

from settings import configure_logging
from tests.api.conftest import oauth_round_trip, served_app


async def test_callback_code_and_state_never_reach_the_access_log(api_settings, task_queue, emu, capsys,
                                                                   caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="api")
    configure_logging("INFO")
    async with served_app(api_settings, task_queue) as base, \
            httpx.AsyncClient(base_url=base, timeout=60) as http:
        pid = (await http.post("/partners", json={"name": "Access log"})).json()["id"]
        realm = await emu.create_company(customers=1, invoices=0)
        done = await oauth_round_trip(http, pid, realm)
    assert done.status_code == 200 and "started" in done.text, done.text
    query = dict(parse_qsl(done.request.url.query.decode()))
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "/oauth/qbo/callback" in text and "200" in text  # the access log did record the callback
    for name in ("code", "state"):
        assert query[name] not in text, f"the callback's {name} is in the logs"
