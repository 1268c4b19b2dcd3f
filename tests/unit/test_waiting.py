"""The tests' one polling helper: it returns the first value that holds, fails naming what it
awaited and what it saw last, and stops at once on a probe's own assertion."""

from __future__ import annotations

import itertools

import pytest

from waiting import eventually

pytestmark = pytest.mark.unit


def test_returns_the_first_value_that_holds() -> None:
    counter = itertools.count()
    assert (
        eventually(lambda: next(counter), "three", timeout=5, interval=0, until=lambda n: n >= 3)
        == 3
    )


def test_fails_with_what_it_awaited_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waited 0.05s for the lock; last seen: \['pid 7'\]"):
        eventually(
            lambda: ["pid 7"], "the lock", timeout=0.05, interval=0.01, until=lambda _: False
        )


def test_ignored_errors_count_as_not_yet_and_are_shown() -> None:
    def refused() -> int:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match="last seen: ConnectionError: refused"):
        eventually(refused, "an answer", timeout=0.05, interval=0.01, ignoring=(ConnectionError,))


def test_a_probe_stops_the_wait_with_its_own_assertion() -> None:
    calls = itertools.count()

    def died() -> bool:
        next(calls)
        raise AssertionError("the process ended")

    with pytest.raises(AssertionError, match="the process ended"):
        eventually(died, "a lock", timeout=60)
    assert next(calls) == 1  # at once, not after the timeout


def test_a_long_last_value_is_cut() -> None:
    with pytest.raises(AssertionError) as failed:
        eventually(lambda: "x" * 5000, "y", timeout=0, until=lambda _: False)
    assert "... (5000 characters)" in str(failed.value) and len(str(failed.value)) < 2200
