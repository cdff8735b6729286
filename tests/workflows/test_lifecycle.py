"""workflows/lifecycle.py: the partner workflow's transitions, tested without Temporal.

Two kinds of test: the transitions one by one, as a reader would check them against the diagram; and the
proof that the loop driven by `next_step` waits and acts exactly as the loop it replaced did (kept below as
`loop_before`, from workflows/partner.py before issue 17), step for step, whatever its messages do
meanwhile: both are run against the same randomly behaving partner for many seeds. Same steps means the
same Temporal commands, which is why no `workflow.patched` was needed (the recorded histories replay).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from workflows.lifecycle import (
    PHASE_AFTER,
    LoopView,
    Phase,
    Step,
    disconnect_settled,
    next_step,
    reconnect_answered,
    wakes,
)
from workflows.models import IntegrationState, PartnerState, Requests

ONBOARDING, ACTIVE = IntegrationState.ONBOARDING, IntegrationState.ACTIVE
NEEDS_RECONNECT, DISCONNECTED = IntegrationState.NEEDS_RECONNECT, IntegrationState.DISCONNECTED


def view(state: IntegrationState = ACTIVE, *, onboarded: bool = True, disconnecting: bool = False,
         phase: Phase = Phase.ROUND, checked: bool = False, roll_over: bool = False) -> LoopView:
    return LoopView(state=state, onboarded=onboarded, disconnecting=disconnecting, phase=phase,
                    disconnect_checked=checked, continue_as_new_due=roll_over)


@pytest.mark.parametrize("where, expected", [
    (view(ONBOARDING, onboarded=False), Step.ONBOARDING_DUE),  # a new partner onboards at once
    (view(ONBOARDING, onboarded=False, phase=Phase.DUE), Step.ONBOARD),
    (view(), Step.SLEEP),  # an active partner waits for the interval or a message
    (view(phase=Phase.DUE), Step.CYCLE),
    (view(phase=Phase.DUE, roll_over=True), Step.CONTINUE_AS_NEW),  # before the cycle, not after
    (view(NEEDS_RECONNECT), Step.AWAIT_RECONNECT),  # no busy retry while QBO refuses the tokens
    (view(NEEDS_RECONNECT, phase=Phase.RECONNECT_ANSWERED), Step.RESUME),
    (view(NEEDS_RECONNECT, onboarded=False, phase=Phase.RECONNECT_ANSWERED), Step.RESUME),
    (view(disconnecting=True), Step.AWAIT_DISCONNECT),  # wherever the loop stands
    (view(phase=Phase.DUE, disconnecting=True), Step.AWAIT_DISCONNECT),
    (view(DISCONNECTED, disconnecting=True, checked=True), Step.STOP),
    (view(DISCONNECTED, phase=Phase.DUE), Step.STOP),
    (view(disconnecting=False, checked=True), Step.SLEEP),  # the disconnect failed: carry on
    # A failed disconnect in needs_reconnect resumes like a reconnect in runs from before the patch
    # `failed-disconnect-keeps-waiting` (since it, the wait goes on inside AWAIT_RECONNECT, partner.py) ...
    (view(NEEDS_RECONNECT, phase=Phase.RECONNECT_ANSWERED, checked=True), Step.RESUME),
    # ... unless another disconnect began meanwhile: the round starts again and waits for that one.
    (view(NEEDS_RECONNECT, phase=Phase.RECONNECT_ANSWERED, disconnecting=True, checked=True), Step.NEW_ROUND),
])
def test_each_transition(where: LoopView, expected: Step) -> None:
    assert next_step(where) is expected


def test_what_ends_the_waits() -> None:
    assert not wakes(Requests(), continue_as_new_due=False)
    for woken in (Requests(sync=True), Requests(reconnect=True), Requests(disconnect=True), Requests(reconcile=True)):
        assert wakes(woken, continue_as_new_due=False), woken
    assert wakes(Requests(), continue_as_new_due=True)
    assert reconnect_answered(Requests(reconnect=True)) and reconnect_answered(Requests(disconnect=True))
    assert not reconnect_answered(Requests(sync=True, reconcile=True))
    assert disconnect_settled(DISCONNECTED, Requests(disconnect=True))
    assert disconnect_settled(ACTIVE, Requests(disconnect=False))
    assert not disconnect_settled(ACTIVE, Requests(disconnect=True))


def test_requests_sync_now_keeps_the_first_trigger_and_a_cycle_takes_them() -> None:
    requests = Requests()
    requests.sync_for("onboarding")
    requests.sync_now()  # already requested: the trigger stays "onboarding"
    requests.reconcile = True
    assert requests.take_cycle() == ("onboarding", True)
    assert requests == Requests()  # taken: nothing keeps the loop awake
    requests.sync_now()
    assert requests.take_cycle() == ("sync_now", False)


def test_a_state_continued_as_new_by_an_older_worker_keeps_its_requests() -> None:
    """Before `Requests`, the flags were PartnerState fields; a sync_now that woke the loop just before it
    continued as new must still run in the next run."""
    older = {"partner_id": "p1", "realm_id": "9130", "onboarded": True, "sync_requested": True,
             "sync_trigger": "sync_now", "reconnect_requested": False, "disconnect_requested": False,
             "reconcile_requested": True}
    state = PartnerState.model_validate(older)
    assert state.requests == Requests(sync=True, sync_trigger="sync_now", reconcile=True)
    assert PartnerState.model_validate(state.model_dump(mode="json")) == state


# --- the loop before and after, against the same partner -----------------------------------------------

@dataclass
class World:
    """What the loop reads: the partner's state and the requests its messages leave, changed at random by
    the steps' outcomes and by messages arriving while the loop waits."""

    state: IntegrationState
    onboarded: bool
    disconnecting: bool = False
    reconnect: bool = False
    roll_over: bool = False


def loop_before(world: World) -> Iterator[str]:
    """workflows/partner.py's `run` loop before issue 17, each await (or act) yielded by name."""
    def disconnected() -> Iterator[str]:
        if world.disconnecting:
            yield "await_disconnect"
        return world.state is DISCONNECTED  # type: ignore[return-value]

    while not (yield from disconnected()):
        if world.state is NEEDS_RECONNECT:
            yield "await_reconnect"
            if (yield from disconnected()):
                break
            if world.disconnecting:
                continue
            yield "resume"
        elif world.onboarded:
            yield "sleep"
        if (yield from disconnected()):
            break
        if world.roll_over:
            yield "continue_as_new"
            return
        yield "onboard" if not world.onboarded else "cycle"
    yield "stop"


def loop_now(world: World) -> Iterator[str]:
    """workflows/partner.py's `run` loop now: the steps `next_step` decides (the two that do nothing are
    not awaits, so they are not yielded)."""
    phase, checked = Phase.ROUND, False
    while (step := next_step(LoopView(state=world.state, onboarded=world.onboarded,
                                      disconnecting=world.disconnecting, phase=phase, disconnect_checked=checked,
                                      continue_as_new_due=world.roll_over))) is not Step.STOP:
        if step not in (Step.ONBOARDING_DUE, Step.NEW_ROUND):
            yield step.value
        if step is Step.CONTINUE_AS_NEW:
            return
        phase, checked = PHASE_AFTER.get(step, phase), step is Step.AWAIT_DISCONNECT
    yield "stop"


def react(step: str, world: World, rng: random.Random) -> None:
    """What may have happened by the time `step` is over; a wait ends only once its condition holds."""
    if step == "await_disconnect":
        if rng.random() < 0.5:
            world.state = DISCONNECTED  # the revoke succeeded (the request stays: "already disconnected")
        else:
            world.disconnecting = False  # it failed for good ...
            world.disconnecting = rng.random() < 0.2  # ... and another disconnect may already be under way
        return
    if step == "await_reconnect":
        if rng.random() < 0.5:
            world.reconnect = True
        else:
            world.disconnecting = True
    elif step == "resume":
        world.reconnect = False
        world.state = ACTIVE if world.onboarded else ONBOARDING
    elif step in ("onboard", "cycle"):
        outcome = rng.choice(["ok", "ok", "auth", "error"])
        if outcome == "ok" and step == "onboard":
            world.onboarded, world.state = True, ACTIVE
        elif outcome == "auth":
            world.state = NEEDS_RECONNECT
    # messages that arrived while the step ran or the loop slept
    if rng.random() < 0.15:
        world.disconnecting = True
        if rng.random() < 0.5:
            world.state = DISCONNECTED
    world.reconnect = world.reconnect or rng.random() < 0.1
    world.roll_over = rng.random() < 0.1


def run(loop: Callable[[World], Iterator[str]], seed: int, limit: int = 40) -> list[str]:
    rng = random.Random(seed)
    onboarded = rng.random() < 0.6
    world = World(state=rng.choice([ACTIVE, NEEDS_RECONNECT]) if onboarded else rng.choice([ONBOARDING, NEEDS_RECONNECT]),
                  onboarded=onboarded, disconnecting=rng.random() < 0.1)
    steps: list[str] = []
    for step in loop(world):
        steps.append(step)
        if len(steps) >= limit or step in ("stop", "continue_as_new"):
            break
        react(step, world, rng)
    return steps


def test_the_loop_takes_the_same_steps_as_before_whatever_happens() -> None:
    seen: set[str] = set()
    for seed in range(3000):
        before, now = run(loop_before, seed), run(loop_now, seed)
        assert now == before, f"seed {seed}: the loops part after {len(_common(before, now))} steps"
        seen.update(before)
    # the runs went everywhere: every await and act, and both ends
    assert seen == {"await_disconnect", "await_reconnect", "resume", "sleep", "onboard", "cycle",
                    "continue_as_new", "stop"}


def _common(a: list[str], b: list[str]) -> list[str]:
    common = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return common
