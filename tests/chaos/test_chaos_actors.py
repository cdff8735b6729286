"""The soak's bookkeeper owes one change to our postings when asked (`every_change`): tried at each turn
until it is done, then never forced again, and each turn still makes a random change meanwhile. A stub
company stands in for QBO: what is tested is the actor's schedule, not QBO."""

from __future__ import annotations

import random
import time

from bench import chaos_actors
from bench.chaos_actors import Tally, bookkeeper_traffic


class StubBooks:
    """Nothing of ours to delete for the first `not_yet` attempts, then always a Payment; never a Deposit.
    `turns`: the changes asked for, one list per turn of the bookkeeper's loop."""

    def __init__(self, not_yet: int = 2) -> None:
        self.not_yet = not_yet
        self.deletes_tried = 0
        self.turns: list[list[str]] = []

    async def open_invoices(self) -> list[dict]:
        return [{"Id": "1", "Balance": "10.00", "CustomerRef": {"value": "1"}}]

    async def delete_our_payment(self, rng) -> str | None:
        self.turns[-1].append("delete_our_payment")
        self.deletes_tried += 1
        return "qbo_our_payment_deleted" if self.deletes_tried > self.not_yet else None

    async def void_our_payment(self, rng) -> str | None:
        self.turns[-1].append("void_our_payment")
        return None

    async def delete_our_deposit(self, rng) -> str | None:
        self.turns[-1].append("delete_our_deposit")
        return None

    def __getattr__(self, name: str):  # the invoice changes, always made
        async def change(rng, inv) -> str:
            self.turns[-1].append(name)
            return f"qbo_{name}"
        return change


async def _run(monkeypatch, owed: str | None, turns: int = 6) -> tuple[StubBooks, Tally]:
    books, tally = StubBooks(), Tally()

    async def next_turn(_seconds: float) -> None:  # each turn starts with the loop's pause
        books.turns.append([])

    monkeypatch.setattr(chaos_actors.asyncio, "sleep", next_turn)
    monkeypatch.setattr(chaos_actors, "MAX_ACTIONS_PER_LOOP", turns)
    await bookkeeper_traffic(books, random.Random(2), time.monotonic() + 60, tally, owed)  # type: ignore[arg-type]
    return books, tally


async def test_the_owed_change_is_made_once_there_is_something_to_change(monkeypatch):
    books, tally = await _run(monkeypatch, "delete_our_payment")
    first, second, third, *rest = books.turns
    # Turns 1 and 2: the owed deletion finds nothing yet, and the turn's random change is still made.
    assert first[0] == second[0] == "delete_our_payment" and len(first) == len(second) == 2, books.turns
    # Turn 3: the deletion is made, and that is the turn's change.
    assert third == ["delete_our_payment"], books.turns
    # Then never forced again: one random change a turn (this seed draws no deletion in turns 4-6).
    assert len(rest) == 3 and all(len(t) == 1 and t != ["delete_our_payment"] for t in rest), books.turns
    assert tally.actions["qbo_our_payment_deleted"] == 1


async def test_without_an_owed_change_the_draws_decide(monkeypatch):
    books, tally = await _run(monkeypatch, None)
    assert len(books.turns) == 6 and all(len(t) == 1 for t in books.turns), books.turns
    assert tally.actions["qbo_our_payment_deleted"] == 0  # this seed draws no deletion in 6 turns
