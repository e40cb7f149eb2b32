"""Names in a configuration that Cortex does not know: typos, found instead of ignored.

A key nobody reads is almost always a typo (``modles``, ``[serverr]``, ``api_key`` for
``api_keys``) whose setting silently keeps its default. So a table is read through
:class:`ReadKeys`, which remembers every key the settings code asked for, and whatever was
never asked for is reported by :func:`unknown_keys`, with the closest known key as a hint.
Known keys are therefore exactly the keys the code reads: a setting added later is known
the moment it is read. For the ``[server]`` and ``[cache]`` tables that is the settings
table (:func:`cortex.config.table.file_keys`): a key no row declares is unknown.

The environment is different: it is shared with every other program, and another program
may well use a ``CORTEX_`` prefix. :func:`misspelt_environment` reports only ``CORTEX_*``
names within :data:`MAX_TYPO_DISTANCE` edits of a name Cortex reads (``CORTEX_PROVIDER``,
``CORTEX_STARTEGY``): such a name cannot be anyone else's. Every other name is left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator, Mapping
from typing import Any

ENV_PREFIX = "CORTEX_"
MAX_TYPO_DISTANCE = 2
"""Edits (insert, delete, replace, swap two neighbours) that still make a name a typo."""


class ReadKeys(Mapping[str, Any]):
    """A read-only view of a configuration table that remembers which keys were asked for.

    ``get``, ``[]`` and ``in`` count as asking; iterating does not (a table of worker
    or route names is iterated, and its keys are names, not settings).
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> Any:  # noqa: ANN401 - configuration values are untyped
        self.asked.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def unread(self) -> list[str]:
        """The keys present that nobody asked for, in the table's order."""
        return [key for key in self._values if key not in self.asked]


def unknown_keys(where: str, table: ReadKeys, *, shown: str = "'{}'") -> list[str]:
    """One problem per key of ``table`` that was never read, with a hint when one is close.

    Args:
        where: what holds the table, as problems name it (``provider 'groq'``).
        table: the table, once every key the settings code wants has been read.
        shown: how a key is written in the problem (``"[{}]"`` for top-level tables).
    """
    problems = []
    for key in table.unread():
        problem = f"{where}: unknown key {shown.format(key)}"
        close = difflib.get_close_matches(key, sorted(table.asked), n=1)
        if close:
            problem += f" (did you mean {shown.format(close[0])}?)"
        problems.append(problem)
    return problems


def misspelt_environment(names: Collection[str], known: Collection[str]) -> list[str]:
    """One problem per ``CORTEX_*`` name that is a near miss of a name Cortex reads.

    Args:
        names: every variable name in the environment (and ``.env``).
        known: every name Cortex reads.
    """
    problems = []
    for name in sorted(names):
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        distance, closest = min(
            ((typo_distance(name, k), k) for k in known), default=(MAX_TYPO_DISTANCE + 1, "")
        )
        if distance <= MAX_TYPO_DISTANCE:
            problems.append(f"{name} is not a Cortex setting (did you mean {closest}?)")
    return problems


def typo_distance(a: str, b: str) -> int:
    """Edits turning ``a`` into ``b``: inserts, deletes, replaces and neighbour swaps.

    The optimal string alignment distance; a swap counts as one edit, since ``STARTEGY``
    for ``STRATEGY`` is one slip of the fingers.
    """
    rows = [list(range(len(b) + 1))]
    for i, char in enumerate(a, start=1):
        row = [i]
        for j, other in enumerate(b, start=1):
            cost = 0 if char == other else 1
            best = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                best = min(best, rows[i - 2][j - 2] + 1)
            row.append(best)
        rows.append(row)
    return rows[-1][-1]
