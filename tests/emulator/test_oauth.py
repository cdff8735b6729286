"""OAuth 2.0 (qbo-reference §10): authorize, code exchange, refresh rotation with a grace period,
invalid_grant, revoke, hard-expiry opt-in, and what the Accounting API does with each token."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

import settings
from tests.emulator.support import Api
from tests.helpers import wait_until

REDIRECT = "https://partner.example/oauth/qbo/callback"


def client_auth() -> tuple[str, str]:
    s = settings.get_settings()
    return s.qbo_client_id, s.qbo_client_secret.get_secret_value()


def authorize(admin: httpx.Client, realm: str, scope: str = "com.intuit.quickbooks.accounting",
              state: str = "csrf-123") -> str:
    r = admin.get("/connect/oauth2", params={"client_id": client_auth()[0], "response_type": "code", "scope": scope,
                                             "redirect_uri": REDIRECT, "state": state, "realmId": realm})
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["state"] == state and params["realmId"] == realm
    return params["code"]


def exchange(admin: httpx.Client, code: str) -> httpx.Response:
    return admin.post("/oauth2/v1/tokens/bearer", auth=client_auth(), headers={"Accept": "application/json"},
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT})


def refresh(admin: httpx.Client, token: str, **headers: str) -> httpx.Response:
    return admin.post("/oauth2/v1/tokens/bearer", auth=client_auth(), headers=headers,
                      data={"grant_type": "refresh_token", "refresh_token": token})


def api_status(company: Api, access_token: str) -> int:
    r = company.http.get(f"/companyinfo/{company.realm}", headers={"Authorization": f"Bearer {access_token}"})
    return r.status_code


def test_code_exchange_is_single_use_and_checks_client(company: Api, admin: httpx.Client) -> None:
    code = authorize(admin, company.realm)
    first = exchange(admin, code)
    assert first.status_code == 200 and first.json()["expires_in"] == 3600
    assert "x_refresh_token_hard_expires_in" not in first.json() and "id_token" not in first.json()
    assert api_status(company, first.json()["access_token"]) == 200
    assert exchange(admin, code).json() == {"error_description": "Token invalid", "error": "invalid_grant"}
    wrong = admin.post("/oauth2/v1/tokens/bearer", auth=(client_auth()[0], "not-the-secret"),
                       data={"grant_type": "authorization_code", "code": authorize(admin, company.realm),
                             "redirect_uri": REDIRECT})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


def test_authorize_without_realm_is_a_consent_page_that_approves_the_chosen_company(
        company: Api, admin: httpx.Client) -> None:
    """As at Intuit: the companies to pick and an Approve button; the form posts the chosen realm and the
    request's own parameters, and the app gets a code for that company (or access_denied on Cancel)."""
    query = {"client_id": client_auth()[0], "response_type": "code", "redirect_uri": REDIRECT, "state": "s-1",
             "scope": "com.intuit.quickbooks.accounting"}
    page = admin.get("/connect/oauth2", params=query)
    assert page.status_code == 200 and f'value="{company.realm}"' in page.text and ">Approve</button>" in page.text
    approved = admin.post("/connect/oauth2", data={**query, "realmId": company.realm, "decision": "approve"})
    assert approved.status_code == 302, approved.text
    params = {k: v[0] for k, v in parse_qs(urlsplit(approved.headers["location"]).query).items()}
    assert params["state"] == "s-1" and params["realmId"] == company.realm
    tokens = exchange(admin, params["code"])
    assert tokens.status_code == 200 and api_status(company, tokens.json()["access_token"]) == 200
    denied = admin.post("/connect/oauth2", data={**query, "realmId": company.realm, "decision": "deny"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(denied.headers["location"]).query).items()}
    assert denied.status_code == 302 and params == {"error": "access_denied", "state": "s-1"}
    forged = admin.post("/connect/oauth2", data={**query, "client_id": "someone-else", "realmId": company.realm,
                                                 "decision": "approve"})
    assert forged.status_code == 400


def test_refresh_rotates_and_old_token_has_grace(company: Api, admin: httpx.Client) -> None:
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    rotated = refresh(admin, tokens["refresh_token"])
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    assert api_status(company, rotated.json()["access_token"]) == 200
    # default grace is 24 h: the superseded token still works
    again = refresh(admin, tokens["refresh_token"])
    assert again.status_code == 200


def test_superseded_refresh_token_fails_after_grace(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/config", json={"realm_id": company.realm, "refresh_grace_seconds": 0})
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    newer = refresh(admin, tokens["refresh_token"]).json()
    assert refresh(admin, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(admin, newer["refresh_token"]).status_code == 200


def test_grace_period_ends(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/config", json={"realm_id": company.realm, "refresh_grace_seconds": 0.5})
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    assert refresh(admin, tokens["refresh_token"]).status_code == 200
    wait_until(lambda: refresh(admin, tokens["refresh_token"]).status_code == 400, timeout=20,
               what="superseded refresh token to expire")


def test_hard_expiry_only_on_request(company: Api, admin: httpx.Client) -> None:
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    plain = refresh(admin, tokens["refresh_token"]).json()
    assert "x_refresh_token_hard_expires_in" not in plain
    hard = refresh(admin, plain["refresh_token"], **{"x-include-refresh-token-hard-expires-in": "true"}).json()
    assert 0 < hard["x_refresh_token_hard_expires_in"] <= 5 * 365 * 86400


def test_access_token_expiry_then_refresh(company: Api, admin: httpx.Client) -> None:
    admin.put("/_emulator/config", json={"realm_id": company.realm, "access_token_ttl_seconds": 1})
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    assert tokens["expires_in"] == 1
    wait_until(lambda: api_status(company, tokens["access_token"]) == 401, timeout=20, what="access token expiry")
    # The refreshed token would live 1 s too, which a loaded machine can spend between the two calls below.
    admin.put("/_emulator/config", json={"realm_id": company.realm, "access_token_ttl_seconds": 3600})
    fresh = refresh(admin, tokens["refresh_token"]).json()
    assert api_status(company, fresh["access_token"]) == 200


def test_revoke_ends_the_grant(company: Api, admin: httpx.Client) -> None:
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    other = company.token  # a different grant (admin-issued) on the same company keeps working
    r = admin.post("/v2/oauth2/tokens/revoke", auth=client_auth(), json={"token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert api_status(company, tokens["access_token"]) == 401
    assert refresh(admin, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert api_status(company, other["access_token"]) == 200


def test_admin_revoke_and_issued_tokens(company: Api, admin: httpx.Client) -> None:
    tokens = exchange(admin, authorize(admin, company.realm)).json()
    issued = admin.get(f"/_emulator/companies/{company.realm}/issued-tokens").json()["tokens"]
    values = {t["token"] for t in issued}
    assert {tokens["access_token"], tokens["refresh_token"], company.token["access_token"]} <= values
    assert admin.post(f"/_emulator/companies/{company.realm}/revoke").json()["revoked"] >= 4
    assert api_status(company, tokens["access_token"]) == 401
    assert refresh(admin, tokens["refresh_token"]).status_code == 400


def test_token_of_another_company_is_refused(company: Api, admin: httpx.Client, emulator_url: str) -> None:
    from tests.emulator.conftest import make_company

    other = make_company(admin, emulator_url)
    assert api_status(company, other.token["access_token"]) == 403
    other.close()
