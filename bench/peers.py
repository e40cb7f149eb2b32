"""Install the peer gateways the suite compares Cortex with, each in its own directory.

- LiteLLM's proxy, ``litellm[proxy]`` at a pinned version, in its own virtualenv. The
  registry mirror here cannot satisfy the newest releases' ``certifi`` floor, so the pin
  is the newest release that installs.
- Portkey's gateway, ``@portkey-ai/gateway`` from the npm registry, run with Node. Its
  streaming path throws ``TypeError: immutable`` with current ``@hono/node-server``
  (Portkey-AI/gateway#1389, #1550): the install pins ``@hono/node-server`` 1.14.2 as the
  issue suggests, and Node preloads a three-line shim that skips the failing header
  mutation, so streams work; nothing else of Portkey changes.

A peer that cannot be installed is reported with its error, never silently dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LITELLM_VERSION = "1.100.0"
PORTKEY_VERSION = "1.15.2"
HONO_NODE_SERVER = "1.14.2"
INSTALL_TIMEOUT = 900.0

_HEADER_SHIM = """\
for (const name of ["append", "set", "delete"]) {
  const original = Headers.prototype[name];
  Headers.prototype[name] = function (...args) {
    try { return original.apply(this, args); }
    catch (error) {
      if (error instanceof TypeError && error.message === "immutable") return undefined;
      throw error;
    }
  };
}
"""


@dataclass(frozen=True, slots=True)
class Install:
    """The outcome of installing one peer: where it is, or why it is not."""

    name: str
    version: str
    ok: bool
    detail: str
    home: Path


def _run(argv: list[str], cwd: Path, log: Path) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(argv)}\n{done.stdout}\n{done.stderr}\n")
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "ERR!" in line]
    return done.returncode == 0, "\n".join(errors[-3:]) or done.stderr[-500:]


def install_litellm(root: Path) -> Install:
    """``litellm[proxy]==LITELLM_VERSION`` in ``root/litellm-venv`` (reused when present)."""
    venv = root / "litellm-venv"
    python = venv / "bin" / "python"
    log = root / "litellm-install.log"
    root.mkdir(parents=True, exist_ok=True)
    check = [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"]
    if python.exists():
        done = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
        if done.stdout.strip() == LITELLM_VERSION:
            return Install("litellm", LITELLM_VERSION, True, "already installed", venv)
    else:
        ok, detail = _run([sys.executable, "-m", "venv", str(venv)], root, log)
        if not ok:
            return Install("litellm", LITELLM_VERSION, False, detail, venv)
    spec = f"litellm[proxy]=={LITELLM_VERSION}"
    ok, detail = _run([str(python), "-m", "pip", "install", "-q", spec], root, log)
    return Install("litellm", LITELLM_VERSION, ok, "installed" if ok else detail, venv)


def install_portkey(root: Path) -> Install:
    """``@portkey-ai/gateway@PORTKEY_VERSION`` in ``root/portkey`` (reused when present)."""
    home = root / "portkey"
    home.mkdir(parents=True, exist_ok=True)
    (home / "shim.cjs").write_text(_HEADER_SHIM)
    entry = home / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    if entry.exists() and json.loads(entry.read_text()).get("version") == PORTKEY_VERSION:
        return Install("portkey", PORTKEY_VERSION, True, "already installed", home)
    package = {
        "name": "cortex-bench-portkey",
        "private": True,
        "dependencies": {
            "@portkey-ai/gateway": PORTKEY_VERSION,
            "@hono/node-server": HONO_NODE_SERVER,
        },
        "overrides": {"@hono/node-server": HONO_NODE_SERVER},
    }
    (home / "package.json").write_text(json.dumps(package, indent=2))
    ok, detail = _run(
        ["npm", "install", "--no-audit", "--no-fund"], home, root / "portkey-install.log"
    )
    return Install("portkey", PORTKEY_VERSION, ok, "installed" if ok else detail, home)
