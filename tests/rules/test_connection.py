"""rules.connection: which company a callback may connect a partner to (PRODUCT.md §5)."""

from __future__ import annotations

import pytest

from rules.connection import ConnectAction, decide_connect, valid_realm_id


@pytest.mark.parametrize("state", ["onboarding", "active", "needs_reconnect"])
def test_a_live_connection_never_moves_to_another_company(state: str) -> None:
    decision = decide_connect(state, "9130350000000001", "9130350000000002")
    assert decision.action is ConnectAction.REFUSE
    assert "9130350000000001" in (decision.reason or "") and "disconnect" in (decision.reason or "")


@pytest.mark.parametrize("state", ["onboarding", "active", "needs_reconnect", "disconnected"])
def test_the_same_company_is_a_reconnect(state: str) -> None:
    assert decide_connect(state, "42", "42").action is ConnectAction.RECONNECT


def test_first_connect_and_switch_after_disconnect() -> None:
    assert decide_connect(None, None, "42").action is ConnectAction.CONNECT
    assert decide_connect("disconnected", "41", "42").action is ConnectAction.SWITCH_COMPANY


@pytest.mark.parametrize("realm, ok", [
    ("9130347596597895", True), ("1", True), ("1" * 20, True), ("1" * 21, False), ("", False), (None, False),
    ("12a", False), ("-1", False), (" 1", False), ("1\n", False), ("١٢٣", False), ("../1", False),
])
def test_realm_ids_are_digits(realm, ok) -> None:
    assert valid_realm_id(realm) is ok
