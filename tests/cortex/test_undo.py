"""UndoLog: steps run in order; the first failure undoes every step so far, newest first."""

from __future__ import annotations

import pytest

from cortex.ops.undo import StepFailed, UndoLog


class Boom(RuntimeError):
    """A step's failure."""


def _run(steps: int, failing: int | None) -> list[str]:
    """Run ``steps`` steps, step ``failing`` raising; return what happened, in order."""
    log, happened = UndoLog(), []

    def action(index: int) -> None:
        happened.append(f"do {index}")
        if index == failing:
            raise Boom(f"step {index}")

    failed: str | None = None
    try:
        for index in range(steps):
            log.run(
                f"s{index}",
                lambda i=index: action(i),
                lambda i=index: happened.append(f"undo {i}"),
            )
    except StepFailed as exc:
        failed = exc.step
    assert failed == (None if failing is None else f"s{failing}")
    return happened


@pytest.mark.parametrize(
    ("steps", "failing", "expected"),
    [
        (3, None, ["do 0", "do 1", "do 2"]),
        (3, 0, ["do 0", "undo 0"]),
        (3, 1, ["do 0", "do 1", "undo 1", "undo 0"]),
        (3, 2, ["do 0", "do 1", "do 2", "undo 2", "undo 1", "undo 0"]),
    ],
    ids=["all-succeed", "first-fails", "middle-fails", "last-fails"],
)
def test_a_failed_step_undoes_itself_and_every_earlier_step_newest_first(
    steps: int, failing: int | None, expected: list[str]
) -> None:
    assert _run(steps, failing) == expected


def test_the_failure_names_the_step_and_keeps_its_cause() -> None:
    log = UndoLog()
    log.run("first", lambda: None, lambda: None)

    with pytest.raises(StepFailed) as caught:
        log.run("second", _raise, lambda: None)

    assert caught.value.step == "second"
    assert isinstance(caught.value.cause, Boom)
    assert str(caught.value) == "second: Boom: broken"
    assert caught.value.undo_errors == []


def _raise() -> None:
    raise Boom("broken")


def test_an_undo_that_fails_is_reported_and_the_other_undos_still_run() -> None:
    log, undone = UndoLog(), []
    log.run("a", lambda: None, lambda: undone.append("a"))
    log.run("b", lambda: None, _raise)
    log.run("c", lambda: None, lambda: undone.append("c"))

    with pytest.raises(StepFailed) as caught:
        log.run("d", _raise, lambda: undone.append("d"))

    assert undone == ["d", "c", "a"]
    assert caught.value.undo_errors == ["undo of b: Boom: broken"]


def test_after_a_rollback_a_new_failure_undoes_only_the_steps_since() -> None:
    log, undone = UndoLog(), []
    log.run("a", lambda: None, lambda: undone.append("a"))
    with pytest.raises(StepFailed):
        log.run("b", _raise, lambda: undone.append("b"))
    log.run("c", lambda: None, lambda: undone.append("c"))

    with pytest.raises(StepFailed):
        log.run("d", _raise, lambda: undone.append("d"))

    assert undone == ["b", "a", "d", "c"]
