"""The dashboard's login and switch (no browser needed): the real app in-process over ASGI, against the
session's PostgreSQL and Temporal."""

from __future__ import annotations

from pydantic import SecretStr

from settings import QboEnv
from tests.api.conftest import running_app

KEY = "dash-key-0123456789"


async def test_login_sets_a_signed_strict_httponly_cookie_never_the_key(api_settings, task_queue) -> None:
    settings = api_settings.model_copy(update={"api_key": SecretStr(f"{KEY},older-key")})
    async with running_app(settings, task_queue) as (_, http):
        away = await http.get("/dashboard/partners/p_x")
        assert away.status_code == 303 and away.headers["location"] == "/dashboard/login?next=/dashboard/partners/p_x"
        wrong = await http.post("/dashboard/login", content="api_key=nope&next=/dashboard",
                                headers={"content-type": "application/x-www-form-urlencoded"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        ok = await http.post("/dashboard/login", content=f"api_key={KEY}&next=https://evil.example/",
                             headers={"content-type": "application/x-www-form-urlencoded"})
        cookie = ok.headers["set-cookie"]
        assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"  # never another site
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
        assert KEY not in cookie and "older-key" not in cookie
        assert (await http.get("/dashboard")).status_code == 200  # the jar sends the session back
        http.cookies.set("qbo_dashboard", "v1.99999999999.forged", path="/dashboard")
        assert (await http.get("/dashboard")).status_code == 303


async def test_dashboard_is_off_against_real_qbo_unless_enabled(api_settings, task_queue) -> None:
    real = api_settings.model_copy(update={"qbo_env": QboEnv.SANDBOX, "api_key": SecretStr(KEY)})
    async with running_app(real, task_queue) as (_, http):
        assert (await http.get("/dashboard/login")).status_code == 404
    async with running_app(real.model_copy(update={"dashboard_enabled": True}), task_queue) as (_, http):
        assert (await http.get("/dashboard/login")).status_code == 200
        assert (await http.get("/dashboard")).status_code == 303
