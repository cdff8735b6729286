"""Orphaned grants (issue 14 item 7): a connection whose workflow is not running is still disconnected on
request, its grant revoked at Intuit (the emulator) and its tokens cleared, instead of a 409 that leaves a
live grant stored."""

from __future__ import annotations

from qbo.oauth import TokenSet
from tests.api.conftest import assert_error


async def test_disconnect_without_a_workflow_revokes_and_clears(app_client, new_partner, emu, db_pool,
                                                                api_settings) -> None:
    from qbo.client import QboApi

    pid = await new_partner()
    assert_error(await app_client.post(f"/partners/{pid}/qbo/disconnect"), 409, "not_connected")  # never connected
    realm = await emu.create_company(customers=0, invoices=0)
    qbo = QboApi(api_settings, db_pool)
    try:  # tokens stored as a callback would, but no workflow was ever started
        await qbo.tokens.save_connection(pid, realm, TokenSet.model_validate(await emu.tokens(realm)))
    finally:
        await qbo.aclose()
    assert not any(t["revoked"] for t in await emu.issued_tokens(realm))

    resp = await app_client.post(f"/partners/{pid}/qbo/disconnect")
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "disconnected"
    row = await db_pool.fetchrow("SELECT state, access_token_enc, refresh_token_enc FROM qbo_connections "
                                 "WHERE partner_id = $1", pid)
    assert (row["state"], row["access_token_enc"], row["refresh_token_enc"]) == ("disconnected", None, None)
    assert all(t["revoked"] for t in await emu.issued_tokens(realm))  # the grant is gone at Intuit too
    again = await app_client.post(f"/partners/{pid}/qbo/disconnect")
    assert again.status_code == 200 and again.json()["state"] == "disconnected"
