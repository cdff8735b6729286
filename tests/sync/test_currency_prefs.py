"""When the sync reads the company's Preferences (docs/currency.md): not on an idle cycle, not again on the
first sweep after onboarding read them, on a sweep once the last read is old, and what the cycle reports."""

from __future__ import annotations

from tests.sync.conftest import Synced


async def _prefs(s: Synced) -> tuple[str, bool]:
    row = await s.pool.fetchrow("SELECT home_currency, multicurrency_enabled FROM qbo_connections"
                                " WHERE partner_id = $1", s.partner_id)
    return row["home_currency"], row["multicurrency_enabled"]


async def _reads(s: Synced) -> int:
    return (await s.calls())["by_operation"].get("read", 0)


async def test_preferences_are_reread_by_a_sweep_once_old_and_never_on_an_idle_cycle(synced: Synced) -> None:
    assert await _prefs(synced) == ("USD", False)  # read as onboarding reads them (tests/sync/conftest.py)
    await synced.emu.currency_prefs(synced.realm_id, multicurrency=True)
    before = await _reads(synced)
    fetched, _ = await synced.cycle()
    assert await _reads(synced) == before and await _prefs(synced) == ("USD", False)  # idle: no read
    assert fetched.currency is not None and fetched.currency.home_currency == "USD"
    assert fetched.currency.invoice_currencies == ("USD",)
    await synced.cycle(full_sweep=True)
    assert await _prefs(synced) == ("USD", False)  # just read at onboarding: the sweep does not read again
    await synced.pool.execute("UPDATE qbo_connections SET currency_prefs_read_at = now() - interval '2 days'"
                              " WHERE partner_id = $1", synced.partner_id)
    fetched, _ = await synced.cycle(full_sweep=True)
    assert await _prefs(synced) == ("USD", True)
    assert fetched.currency is not None and fetched.currency.multicurrency is True
