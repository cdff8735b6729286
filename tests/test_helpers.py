"""tests/helpers.py's waiting helpers: a probe that asserts says why it timed out; the older form still works."""

from __future__ import annotations

import pytest

from tests.helpers import eventually, wait_until


async def test_an_asserting_probe_returns_its_value_once_it_stops_failing():
    tries: list[int] = []

    async def probe() -> str:
        tries.append(1)
        assert len(tries) >= 3, f"only {len(tries)} tries"
        return "ready"

    assert await eventually(probe, interval=0) == "ready"
    assert len(tries) == 3


async def test_a_timeout_re_raises_the_probes_last_assertion():
    seen = {"state": "onboarding"}

    async def probe() -> dict[str, str]:
        assert seen["state"] == "active", f"state is {seen['state']}"
        return seen

    with pytest.raises(AssertionError) as caught:
        await eventually(probe, timeout=0.05, interval=0.01, what="the partner to become active")
    assert "state is onboarding" in str(caught.value)
    assert caught.value.__notes__ == ["timed out after 0.05s waiting for the partner to become active"]


async def test_the_older_form_waits_for_a_truthy_value_and_reports_the_last_one():
    values = iter([0, [], {"id": 7}])

    async def probe() -> object:
        return next(values)

    assert await eventually(probe, interval=0) == {"id": 7}

    async def never() -> bool:
        return False

    with pytest.raises(AssertionError, match=r"timed out after 0.05s waiting for a flag; last value: False$"):
        await eventually(never, timeout=0.05, interval=0.01, what="a flag")


async def test_a_probe_that_asserts_and_returns_nothing_is_told_why_it_never_finished():
    async def probe() -> None:
        assert True

    with pytest.raises(AssertionError, match="returns what it checked: None counts as not yet"):
        await eventually(probe, timeout=0.05, interval=0.01)


async def test_any_other_exception_ends_the_wait_at_once():
    calls: list[int] = []

    async def probe() -> bool:
        calls.append(1)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await eventually(probe, timeout=30)
    assert calls == [1]


def test_wait_until_behaves_the_same_for_a_synchronous_probe():
    tries: list[int] = []

    def probe() -> int:
        tries.append(1)
        assert len(tries) == 2, "first try"
        return len(tries)

    assert wait_until(probe, interval=0) == 2
    with pytest.raises(AssertionError) as caught:
        wait_until(lambda: (_ for _ in ()).throw(AssertionError("never")), timeout=0.05, interval=0.01, what="x")
    assert str(caught.value) == "never" and caught.value.__notes__ == ["timed out after 0.05s waiting for x"]
