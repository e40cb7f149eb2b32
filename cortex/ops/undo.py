"""An undo log: carry out a sequence of steps all or nothing.

Each step is registered with its undo *before* it runs, so a step that fails halfway is
undone too; every undo must therefore be safe to run whether or not its step ran, or ran
only in part (stop what may be running, forget what may be known, put back the old value).
When a step fails, the undos run newest first, every one of them even if some fail, and
the step's failure is raised as :class:`StepFailed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class StepFailed(Exception):
    """A step failed and the steps before it were undone.

    Attributes:
        step: the failed step's name.
        cause: what the step raised.
        undo_errors: one line per undo that failed too (each names its step).
    """

    def __init__(self, step: str, cause: Exception, undo_errors: list[str]) -> None:
        super().__init__(f"{step}: {type(cause).__name__}: {cause}")
        self.step = step
        self.cause = cause
        self.undo_errors = undo_errors


@dataclass(frozen=True, slots=True)
class _Undo:
    step: str
    undo: Callable[[], None]


class UndoLog:
    """Runs steps in order; the first failure undoes everything done so far."""

    def __init__(self) -> None:
        self._undos: list[_Undo] = []

    def run(self, step: str, action: Callable[[], None], undo: Callable[[], None]) -> None:
        """Run ``action``; if it fails, run every registered undo (its own included).

        Raises:
            StepFailed: ``action`` raised; every step so far was undone.
        """
        self._undos.append(_Undo(step, undo))
        try:
            action()
        except Exception as exc:
            raise StepFailed(step, exc, self._undo_all()) from exc

    def _undo_all(self) -> list[str]:
        errors: list[str] = []
        while self._undos:
            entry = self._undos.pop()
            try:
                entry.undo()
            except Exception as exc:  # noqa: BLE001 - the remaining undos must still run
                errors.append(f"undo of {entry.step}: {type(exc).__name__}: {exc}")
        return errors
