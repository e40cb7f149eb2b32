"""``python -m cortex keys create|list|update|revoke|rotate`` and ``python -m cortex spend``.

Both work on the database file itself (``--db``, default ``$CORTEX_DB`` or
``./cortex.db``), so they need no running gateway and no admin token: whoever may write
the file may manage its keys. A running Cortex on the same file sees a change within a
quarter of a second. Output is JSON; a secret is printed once, by ``create`` and
``rotate``, and lists show keys masked.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any, TextIO

from cortex.tenants.records import InvalidKeyFields
from cortex.tenants.spend import report
from cortex.tenants.store import KeyStore, UnknownKey

LIMIT_FLAGS = (
    ("--team", "team", str, "owner or team label"),
    ("--models", "models", str, "comma-separated models, routes or patterns it may use"),
    ("--expires-at", "expires_at", str, "expiry, ISO 8601 UTC (2026-12-31T00:00:00Z)"),
    ("--rpm", "rpm", int, "requests per minute"),
    ("--tpm", "tpm", int, "tokens per minute"),
    ("--budget-daily", "budget_daily", float, "spend per UTC day"),
    ("--budget-monthly", "budget_monthly", float, "spend per UTC month"),
)


def add_parsers(commands: Any, environ: Mapping[str, str]) -> None:  # noqa: ANN401 - argparse's private subparsers type
    """Add ``keys`` and ``spend`` to the command line."""
    db = environ.get("CORTEX_DB") or "./cortex.db"
    keys = commands.add_parser("keys", help="manage gateway keys (records in CORTEX_DB)")
    actions = keys.add_subparsers(
        dest="action", required=True, metavar="action", help="create, list, update, revoke, rotate"
    )
    create = actions.add_parser("create", help="create a key; its secret is shown once")
    create.add_argument("name", help="what the key is for")
    update = actions.add_parser("update", help="change a key's fields")
    update.add_argument("id", help="the key's id (gk_...)")
    update.add_argument("--name", dest="name", help="what the key is for")
    for sub in (create, update):
        for flag, dest, kind, text in LIMIT_FLAGS:
            sub.add_argument(flag, dest=dest, type=kind, help=text)
    listing = actions.add_parser("list", help="every key, masked")
    revoke = actions.add_parser("revoke", help="revoke a key for good")
    rotate = actions.add_parser("rotate", help="give a key a new secret")
    for sub in (revoke, rotate):
        sub.add_argument("id", help="the key's id (gk_...)")
    spend = commands.add_parser("spend", help="spend by key, model, worker and day")
    spend.add_argument("--since", help="first UTC day counted, YYYY-MM-DD")
    spend.add_argument("--until", help="last UTC day counted, YYYY-MM-DD")
    spend.add_argument("--key", help="only this key's id")
    for sub in (create, update, listing, revoke, rotate, spend):
        sub.add_argument("--db", default=db, help=f"the database file ($CORTEX_DB, {db})")


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields the command line names, as the store reads them."""
    names = ["name", *(dest for _, dest, _, _ in LIMIT_FLAGS)]
    fields = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "models" in fields:
        fields["models"] = [m.strip() for m in fields["models"].split(",") if m.strip()]
    return fields


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``keys`` or ``spend``; returns the exit status (1: refused, 2: invalid input)."""
    store = KeyStore(args.db)
    try:
        store.open()
        result = _act(store, args)
    except InvalidKeyFields as exc:
        print(f"cortex: {exc}", file=err)
        return 2
    except UnknownKey:
        print(f"cortex: no live gateway key {args.id!r}", file=err)
        return 1
    finally:
        store.close()
    print(json.dumps(result, indent=2), file=out)
    return 0


def _act(store: KeyStore, args: argparse.Namespace) -> Any:  # noqa: ANN401 - JSON output
    if args.command == "spend":
        with store.connection() as conn:
            return report(conn, since=args.since, until=args.until, key_id=args.key)
    match args.action:
        case "create":
            key, secret = store.create(_fields(args))
            return {**key.as_json(), "key": secret}
        case "update":
            return store.update(args.id, _fields(args)).as_json()
        case "revoke":
            return store.revoke(args.id).as_json()
        case "rotate":
            key, secret = store.rotate(args.id)
            return {**key.as_json(), "key": secret}
    return {"data": [key.as_json() for key in store.list()]}
