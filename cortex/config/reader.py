"""Reading the settings table's scalar rows from the environment and a config file.

Each row of :data:`cortex.config.table.SETTINGS` is read from its environment variable,
else its key in its config file table, else its default; its :class:`~cortex.config.table.Kind`
says how the raw value is parsed and checked. A problem names the source the bad value came
from and what was expected; nothing is clamped or ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cortex.config.check import ReadKeys, unknown_keys
from cortex.config.table import SETTINGS, Kind, Setting, file_keys
from cortex.config.workers import split_list


class Reader:
    """Reads rows from the environment, else the config file tables, else their defaults.

    Every key of a table the settings table declares counts as known, whichever source
    wins, so :meth:`unknown_keys` reports exactly the keys no row declares.
    """

    def __init__(
        self, problems: list[str], env: Mapping[str, str], tables: Mapping[str, Mapping[str, Any]]
    ) -> None:
        self._problems = problems
        self._env = env
        self._tables = {name: ReadKeys(table) for name, table in tables.items()}
        for name, table in self._tables.items():
            table.asked.update(file_keys(name))

    def unknown_keys(self) -> list[str]:
        """A problem per key of a settings table that no row declares."""
        return [
            problem
            for name, table in self._tables.items()
            for problem in unknown_keys(f"config file [{name}]", table)
        ]

    def read_all(self, cli: Mapping[str, Any]) -> dict[str, Any]:
        """Every scalar row's value by field (``breaker.window`` for nested ones)."""
        values = {}
        for row in SETTINGS:
            if row.kind is Kind.STRUCTURE:
                continue
            given = cli.get(row.field) if row.flag else None
            value = self.read(row, given)
            values[row.field] = value * row.scale if row.scale != 1 else value
        return values

    def read(self, row: Setting, given: object | None = None) -> Any:  # noqa: ANN401 - a row's value is of its own type
        """One row's value; ``given`` (a command-line flag) wins when set."""
        if row.kind is Kind.KEYS:
            return tuple(dict.fromkeys(split_list(self._env.get(row.env))))
        raw, name = self._raw(row)
        if row.kind is Kind.PORT:
            return self._port(row, raw, name, given)
        if given is not None and row.kind is Kind.INTEGER:
            flagged = self._integer(row, given, row.flag or row.env)
            return row.default if flagged is None else flagged
        value = self._parsed(row, raw, name)
        return str(given) if given else value

    def _parsed(self, row: Setting, raw: object | None, name: str) -> Any:  # noqa: ANN401 - as above
        default = row.default / row.scale if isinstance(row.default, float) else row.default
        if raw is None:
            return default
        parse = {
            Kind.TEXT: self._text,
            Kind.SECRET: self._text,
            Kind.NUMBER: self._number,
            Kind.INTEGER: self._integer,
            Kind.FLAG: self._flag,
            Kind.CHOICE: self._choice,
            Kind.ORIGINS: self._origins,
        }[row.kind]
        value = parse(row, raw, name)
        return default if value is None else value

    def _raw(self, row: Setting) -> tuple[object | None, str]:
        """The raw value and how a problem names its source."""
        table = self._tables.get(row.section or "")
        from_file = table.get(row.key) if table is not None and row.key else None
        if self._env.get(row.env, "").strip():
            return self._env[row.env].strip(), row.env
        return from_file, f"config file [{row.section}] {row.key} ({row.env})"

    def _text(self, row: Setting, raw: object, name: str) -> str | None:
        if not isinstance(raw, str):
            self._problems.append(f"{name} must be a string, got {raw!r}")
            return None
        text = raw.lower() if row.lower else raw
        return text.strip() if row.kind is Kind.SECRET else text

    def _number(self, row: Setting, raw: object, name: str) -> float | None:
        try:
            value = math.nan if isinstance(raw, bool) else float(str(raw))
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self._problems.append(f"{name} must be a number, got {raw!r}")
            return None
        if value < 0 or (value == 0 and not row.allow_zero):
            least = "at least 0" if row.allow_zero else "greater than 0"
            self._problems.append(f"{name} must be {least}, got {raw!r}")
            return None
        if row.at_most is not None and value > row.at_most:
            self._problems.append(f"{name} must be at most {row.at_most:g}, got {raw!r}")
            return None
        return int(value) if row.whole else value

    def _integer(self, row: Setting, raw: object, name: str) -> int | None:
        """A whole number of at least the row's least: a fraction is a problem, never cut."""
        value = _whole(raw)
        if value is None:
            self._problems.append(f"{name} must be a whole number, got {raw!r}")
            return None
        if value < row.least:
            self._problems.append(f"{name} must be at least {row.least}, got {raw!r}")
            return None
        return value

    def _flag(self, _: Setting, raw: object, name: str) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text not in ("0", "false", "no", "off", ""):
            self._problems.append(f"{name} must be 1/true/yes/on or 0/false/no/off")
        return False

    def _choice(self, row: Setting, found: object, name: str) -> object | None:
        assert row.choices is not None  # a CHOICE row names its enum
        raw = str(found or row.default.value).lower()
        try:
            return row.choices(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in row.choices)
            self._problems.append(f"{name} must be one of {allowed}, got {raw!r}")
            return None

    def _origins(self, _: Setting, raw: object, name: str) -> tuple[str, ...] | None:
        """Web origins, comma-separated or a list of strings, each as browsers send it."""
        if isinstance(raw, str):
            items = split_list(raw)
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            items = [item.strip() for item in raw if item.strip()]
        else:
            self._problems.append(f"{name} must be a list of origins, got {raw!r}")
            return None
        origins = []
        for item in items:
            origin = browser_origin(item)
            if origin is None:
                self._problems.append(
                    f"{name}: {item!r} is not an origin: write scheme://host[:port], no path"
                    " (https://app.example.com), or * alone"
                )
            else:
                origins.append(origin)
        if ANY_ORIGIN in origins and len(origins) > 1:
            self._problems.append(f"{name}: * already allows every origin; give it alone")
        return tuple(dict.fromkeys(origins))

    def _port(self, row: Setting, raw: object, name: str, given: object | None) -> int:
        """The port: the command-line flag when given (then the others go unchecked)."""
        if given is not None:
            return int(str(given))
        if raw is None:
            return int(row.default)
        port = _whole(raw)
        if port is None or not 0 <= port <= 65535:
            self._problems.append(f"{name} must be a port number, got {raw!r}")
            return int(row.default)
        return port


ANY_ORIGIN = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")


def browser_origin(text: str) -> str | None:
    """``text`` as a browser's ``Origin`` header writes it, or None if it is no origin.

    Browsers send the scheme and host lower-cased and leave out a scheme's default port,
    so ``HTTPS://App.Example.com:443/`` is ``https://app.example.com``. A path, query,
    fragment or user name makes it no origin (``https://app.example.com/chat``). Schemes
    other than http and https are kept (an Electron or Tauri app's ``tauri://localhost``).
    """
    if text == ANY_ORIGIN:
        return ANY_ORIGIN
    parts = urlsplit(text.removesuffix("/"))
    scheme, host = parts.scheme.lower(), parts.hostname
    try:
        port = parts.port
    except ValueError:
        return None
    if not SCHEME.fullmatch(scheme) or not host or parts.username is not None:
        return None
    if parts.path or parts.query or parts.fragment or "?" in text or "#" in text:
        return None
    host = f"[{host}]" if ":" in host else host
    shown = "" if port is None or DEFAULT_PORTS.get(scheme) == port else f":{port}"
    return f"{scheme}://{host}{shown}"


def _whole(raw: object) -> int | None:
    """``raw`` as a whole number (``"12"``, ``12``), or None (``"1.5"``, ``1.5``, ``true``)."""
    if isinstance(raw, bool):
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None
