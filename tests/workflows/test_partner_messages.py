"""PartnerIntegrationWorkflow branches no other test reaches (issue 18, "Branches with no test at all"): a
failure that is not about the tokens, the accounts reloaded when a fetch says they changed, the fire-and-forget signals `set_preferences` and `request_disconnect`
succeeding and failing, and preferences refused while the partner is being disconnected. Real Temporal dev
server, the stub activities of stubs.py."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError

from rules.facts import AccountFacts
from rules.preferences import Preferences
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from tests.workflows.test_partner_workflow import running, stubs
from workflows.models import DisconnectRequest, IntegrationState
from workflows.partner import PartnerIntegrationWorkflow

__all__ = ["running", "stubs"]  # fixtures, imported for pytest

DEFAULTS = Preferences(payment_account_id="4", fee_account_id="90")
DEPOSITS_TO_CHECKING = Preferences(payment_account_id="4", create_deposits=True, deposit_account_id="35",
                                   fee_account_id="90")


async def test_a_non_auth_failure_is_recorded_and_the_loop_goes_on(running, stubs) -> None:
    client, pid, handle = running
    first = await probes.status(handle)
    fetched = stubs.calls["fetch_changes"]
    stubs.fetch_error = "Invalid query (4001)"
    await partners.sync_now(client, pid)
    failed = await eventually(lambda: probes.last_error_mentions(handle, "QboValidationError: Invalid query (4001)"),
                              what="the failed cycle's last_error")
    assert failed.state is IntegrationState.ACTIVE, "not an auth failure: no needs_reconnect"
    assert failed.last_sync_at == first.last_sync_at, "a failed cycle is not a sync"
    assert stubs.calls["fetch_changes"] == fetched + 1 and stubs.states == ["active"]

    stubs.fetch_error = None
    await partners.sync_now(client, pid)  # the loop still listens, and the next good cycle clears the error

    status = await eventually(lambda: probes.synced_after(handle, first.last_sync_at),
                              what="a good cycle after the failed one")
    assert status.state is IntegrationState.ACTIVE and status.last_error is None
    assert stubs.calls["fetch_changes"] == fetched + 2


async def test_set_preferences_signal_applies_or_records_why_not(running, stubs) -> None:
    client, pid, handle = running
    stubs.save_broken = True
    await handle.signal(PartnerIntegrationWorkflow.set_preferences, DEPOSITS_TO_CHECKING)
    failed = await eventually(lambda: probes.last_error_mentions(handle, "preferences not saved: QboValidationError"),
                              what="the failed save recorded")
    assert failed.preferences == DEFAULTS and failed.state is IntegrationState.ACTIVE
    assert stubs.calls["save_preferences"] == 1 and stubs.saved_preferences == []

    stubs.save_broken = False
    fetched = stubs.calls["fetch_changes"]
    await handle.signal(PartnerIntegrationWorkflow.set_preferences, DEPOSITS_TO_CHECKING)

    async def applied():
        status = await probes.status(handle)
        assert status.preferences == DEPOSITS_TO_CHECKING
        return status

    await eventually(applied, what="the signalled preferences applied")
    assert stubs.saved_preferences == [DEPOSITS_TO_CHECKING]
    # deposits turned on wake the loop for a cycle (the workflow survived the failed save)
    await eventually(lambda: probes.called(stubs, "fetch_changes", more_than=fetched), what="a cycle after deposits on")


async def test_request_disconnect_signal_fails_then_succeeds(running, stubs) -> None:
    """A failed revoke leaves the partner active with the reason in last_error, and the loop asleep until
    the deadline of the sleep the disconnect ended: no cycle (runs from before the
    `failed-disconnect-keeps-waiting` patch ran one at once, the next scheduled one an interval after it).
    The loop still wakes for sync_now, and a later disconnect succeeds."""
    client, pid, handle = running
    before = await probes.status(handle)
    fetched = stubs.calls["fetch_changes"]
    stubs.revoke_broken = True
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="partner asked"))
    done = await eventually(lambda: probes.commands_after_failed_revoke(handle), what="the failure acted on")
    assert "failed-disconnect-keeps-waiting" in done[0], done
    assert len(done) == 2 and done[1].startswith("timer "), f"asleep again, not a cycle: {done}"
    assert int(done[1].split()[1].rstrip("s")) < 3600, f"the same deadline, not a new interval: {done}"
    failed = await probes.status(handle)
    assert failed.state is IntegrationState.ACTIVE and stubs.revoked == []
    assert "disconnect: RevokeFailed" in (failed.last_error or ""), "kept: no cycle cleared it"
    assert stubs.calls["fetch_changes"] == fetched

    await partners.sync_now(client, pid)  # still listening
    status = await eventually(lambda: probes.synced_after(handle, before.last_sync_at), what="the sync_now cycle")
    assert status.state is IntegrationState.ACTIVE and status.last_error is None
    assert stubs.calls["fetch_changes"] == fetched + 1

    stubs.revoke_broken = False
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="partner asked"))
    final = await handle.result()
    assert final.state is IntegrationState.DISCONNECTED and stubs.revoked == [pid]
    assert stubs.calls["revoke_connection"] == 2


async def test_a_failed_disconnect_in_needs_reconnect_waits_for_the_reconnect(running, stubs) -> None:
    """In needs_reconnect a failed disconnect leaves the partner waiting for `reconnected`: no resume to
    active, no cycle with the dead tokens (runs from before the patch resumed and synced). A reconnect then
    resumes as usual."""
    client, pid, handle = running
    stubs.auth_broken = True
    await partners.sync_now(client, pid)
    await eventually(lambda: probes.state_is(handle, IntegrationState.NEEDS_RECONNECT), what="needs_reconnect")
    await eventually(lambda: probes.waiting(handle), what="waiting for the reconnect")
    fetched, states = stubs.calls["fetch_changes"], list(stubs.states)
    stubs.revoke_broken = True
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="partner asked"))
    done = await eventually(lambda: probes.commands_after_failed_revoke(handle), what="the failure acted on")
    assert len(done) == 1 and "failed-disconnect-keeps-waiting" in done[0], f"still waiting, nothing else: {done}"
    status = await probes.status(handle)
    assert status.state is IntegrationState.NEEDS_RECONNECT and "disconnect: RevokeFailed" in (status.last_error or "")
    assert stubs.calls["fetch_changes"] == fetched and stubs.states == states

    stubs.auth_broken = False
    await handle.signal(PartnerIntegrationWorkflow.reconnected)
    await eventually(lambda: probes.called(stubs, "fetch_changes", more_than=fetched), what="the reconnected cycle")
    await eventually(lambda: probes.state_is(handle, IntegrationState.ACTIVE), what="active again")
    assert stubs.states == [*states, "active"]


async def test_preferences_and_a_second_disconnect_refused_while_disconnecting(running, stubs) -> None:
    """A disconnect in progress (its revoke held): preferences by update and by signal are refused as
    'disconnected', a second disconnect signal is ignored with a reason; nothing is saved."""
    client, pid, handle = running
    stubs.revoke_gate = asyncio.Event()
    await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="first"))
    try:
        await eventually(lambda: probes.called(stubs, "revoke_connection", exactly=1), what="the revoke to start")
        # the signal first: were it accepted, it would wait for the disconnect's lock and this would time out
        # (an accepted update would instead block this test until the revoke is released)
        await handle.signal(PartnerIntegrationWorkflow.set_preferences, DEPOSITS_TO_CHECKING)
        await eventually(lambda: probes.last_error_mentions(handle, "preferences rejected: the partner is disconnected"),
                         what="the signalled preferences refused")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await partners.update_preferences(client, pid, DEPOSITS_TO_CHECKING)
        assert "the partner is disconnected" in str(refused.value.cause)
        await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="second"))
        await eventually(lambda: probes.last_error_mentions(handle, "disconnect ignored: already disconnected"),
                         what="the second disconnect ignored")
    finally:
        stubs.revoke_gate.set()
    final = await handle.result()
    assert final.state is IntegrationState.DISCONNECTED and final.preferences == DEFAULTS
    assert stubs.saved_preferences == [] and stubs.calls["revoke_connection"] == 1 and stubs.revoked == [pid]


async def test_accounts_changed_in_qbo_are_reloaded_for_the_validator(running, stubs) -> None:
    """A fetch reporting Account changes (CDC) makes the cycle reload the accounts: a bank account created in
    QBO after onboarding is refused as a deposit account before that cycle and accepted after it."""
    client, pid, handle = running
    stubs.extra_accounts = [AccountFacts(qbo_id="77", name="New Bank", account_type="Bank",
                                         account_subtype="Checking", active=True)]
    to_new_bank = DEPOSITS_TO_CHECKING.model_copy(update={"deposit_account_id": "77"})
    with pytest.raises(WorkflowUpdateFailedError):
        await partners.update_preferences(client, pid, to_new_bank)
    loads, synced = stubs.calls["load_accounts"], (await probes.status(handle)).last_sync_at
    stubs.accounts_changed = True
    await partners.sync_now(client, pid)

    async def cycle_done():
        assert (await probes.status(handle)).last_sync_at > synced
        return True

    await eventually(cycle_done, what="the cycle that saw the Account changes")
    assert stubs.calls["load_accounts"] == loads + 1
    assert await partners.update_preferences(client, pid, to_new_bank) == to_new_bank
    assert stubs.saved_preferences == [to_new_bank]


async def test_payouts_are_settled_while_deposits_are_off(running, stubs) -> None:
    """Deposits off (the defaults): a pending payout still goes to create_deposits, which settles it
    `not_synced` (the `settle-payouts-when-deposits-off` patch; its history is payouts_when_deposits_off)."""
    client, pid, handle = running
    assert (await probes.status(handle)).preferences == DEFAULTS and stubs.calls["create_deposits"] == 0
    synced = (await probes.status(handle)).last_sync_at
    stubs.pending_payouts = 1
    await partners.sync_now(client, pid)

    async def cycle_done():
        assert (await probes.status(handle)).last_sync_at > synced
        return True

    await eventually(cycle_done, what="the cycle with a pending payout")
    assert stubs.calls["create_deposits"] == 1 and stubs.pending_payouts == 0
