"""The partner workflow's lifecycle as data: the step its main loop takes next is decided by one pure
function, `next_step`, from the partner's integration state, what its messages asked for (`Requests`,
in workflows/models.py) and where the loop stands in its round (`Phase`).

    onboarding ──(backfill done)──▶ active ⟲ (sleep, cycle)
    onboarding, active ──(QBO refused the tokens)──▶ needs_reconnect
    needs_reconnect ──(reconnected)──▶ active, or onboarding when the backfill had not finished
    any state ──(disconnect succeeded)──▶ disconnected: the run ends once its handlers are done

A round is: wait (for the interval or a message; in `needs_reconnect`, for `reconnected`), then act
(onboard, or one cycle; continue as new instead when the history is long). A disconnect in progress is
waited out wherever the loop stands; one that fails leaves everything as it was: the wait it ended goes on
inside the SLEEP or AWAIT_RECONNECT step (workflows/partner.py, patch `failed-disconnect-keeps-waiting`), so
the loop neither runs an unscheduled cycle nor resumes with dead tokens. Runs from before that patch kept
a quirk, still decided here for their replay: in `needs_reconnect`, the wait that a failed disconnect ended
is answered like a reconnect (the loop resumes), and a sleep it ended is followed by a cycle at once.
Nothing here awaits, reads the clock or calls Temporal: the workflow does what `next_step` says, so the
commands it emits are those of the loop this replaced (tests/histories replay unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from workflows.models import IntegrationState, Requests


class Phase(StrEnum):
    """Where the loop stands in its round (the loop's own, not carried across continue-as-new). Each phase
    begins by checking for a disconnect in progress."""

    ROUND = "round"  # a round begins: wait first
    RECONNECT_ANSWERED = "reconnect_answered"  # needs_reconnect's wait ended
    DUE = "due"  # the wait is over: act


class Step(StrEnum):
    AWAIT_DISCONNECT = "await_disconnect"  # a disconnect is in progress: wait for its outcome
    STOP = "stop"  # disconnected
    AWAIT_RECONNECT = "await_reconnect"  # needs_reconnect: wait for `reconnected` or a disconnect
    RESUME = "resume"  # back to active (or onboarding), and a cycle triggered "reconnected"
    SLEEP = "sleep"  # wait for the interval, or less when a message needs the loop (`wakes`)
    ONBOARDING_DUE = "onboarding_due"  # not onboarded: (re)try at once, no wait (the loop does nothing)
    NEW_ROUND = "new_round"  # a disconnect failed and another began: start the round again (nothing done)
    CONTINUE_AS_NEW = "continue_as_new"
    ONBOARD = "onboard"
    CYCLE = "cycle"


#: The phase each step leaves the loop in (AWAIT_DISCONNECT leaves it where it was).
PHASE_AFTER: dict[Step, Phase] = {
    Step.AWAIT_RECONNECT: Phase.RECONNECT_ANSWERED,
    Step.RESUME: Phase.DUE,
    Step.SLEEP: Phase.DUE,
    Step.ONBOARDING_DUE: Phase.DUE,
    Step.NEW_ROUND: Phase.ROUND,
    Step.ONBOARD: Phase.ROUND,
    Step.CYCLE: Phase.ROUND,
}


@dataclass(frozen=True)
class LoopView:
    """What `next_step` looks at."""

    state: IntegrationState
    onboarded: bool
    disconnecting: bool  # a disconnect is in progress (`Requests.disconnect`)
    phase: Phase
    disconnect_checked: bool  # the step just taken waited for a disconnect's outcome, in this phase
    continue_as_new_due: bool  # suggested by the server, or the run's cycle budget is spent


def next_step(view: LoopView) -> Step:
    if view.disconnecting and not view.disconnect_checked:
        return Step.AWAIT_DISCONNECT
    if view.state is IntegrationState.DISCONNECTED:
        return Step.STOP
    if view.phase is Phase.ROUND:
        if view.state is IntegrationState.NEEDS_RECONNECT:
            return Step.AWAIT_RECONNECT
        return Step.SLEEP if view.onboarded else Step.ONBOARDING_DUE
    if view.phase is Phase.RECONNECT_ANSWERED:
        # Answered by `reconnected`, or by a disconnect now settled: a failed one resumes too in runs from
        # before the patch (the quirk above), unless yet another disconnect began meanwhile.
        return Step.NEW_ROUND if view.disconnecting else Step.RESUME
    if view.continue_as_new_due:
        return Step.CONTINUE_AS_NEW
    return Step.CYCLE if view.onboarded else Step.ONBOARD


def disconnect_settled(state: IntegrationState, requests: Requests) -> bool:
    """A disconnect's outcome is known: it succeeded, or it failed (and the request was withdrawn)."""
    return state is IntegrationState.DISCONNECTED or not requests.disconnect


def reconnect_answered(requests: Requests) -> bool:
    """What ends the wait in `needs_reconnect`."""
    return requests.reconnect or requests.disconnect


def wakes(requests: Requests, continue_as_new_due: bool) -> bool:
    """What ends a sleep before the interval: a message the loop must act on, or a history to roll over."""
    return requests.sync or requests.disconnect or requests.reconnect or requests.reconcile or continue_as_new_due
