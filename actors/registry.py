"""The registry actor: which provider workers exist, by name and type.

It is the only writer of worker configurations on the :class:`~actors.board.Board`, so
adding and removing workers is serialised through one mailbox, and the configuration
survives a registry crash because it lives on the board.
"""

from __future__ import annotations

from actors.board import Board
from actors.messages import RegisterWorker, UnregisterWorker, UpdateWorker
from supervisors import Link, SupervisedActor


class DuplicateWorker(ValueError):
    """A worker with this name already exists."""


class RegistryActor(SupervisedActor):
    """Owns the set of registered workers."""

    def __init__(self, link: Link, board: Board) -> None:
        super().__init__(link)
        self._board = board

    def on_receive(self, message: object) -> object:
        """Register or unregister a worker."""
        match message:
            case RegisterWorker(config=config):
                if self._board.config(config.name) is not None:
                    raise DuplicateWorker(f"a worker named {config.name!r} already exists")
                self._board.put_config(config)
                return None
            case UpdateWorker(config=config):
                if self._board.config(config.name) is None:
                    raise LookupError(f"no worker named {config.name!r}")
                self._board.put_config(config)
                return None
            case UnregisterWorker(name=name):
                existed = self._board.config(name) is not None
                self._board.remove(name)
                return existed
            case _:
                return super().on_receive(message)
