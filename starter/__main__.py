"""`python -m starter`: the operator's CLI for partner workflows.

    python -m starter list [--json]
    python -m starter status PID [--json]
    python -m starter sync PID
    python -m starter preferences PID [--payment-account ID] [--create-deposits | --no-create-deposits]
                                      [--deposit-account ID] [--fee-account ID] [--json]
    python -m starter disconnect PID [--reason TEXT] [--json]
    python -m starter reconcile PID [--json]
    python -m starter rotate-keys [--json]
    python -m starter revoke PID [--json]

`list` reads PostgreSQL (the app's own table, not search attributes); `reconcile` runs the same paged
reconciliation as the workflow's runs (services/reconcile.py), here and now, and prints its report
without storing it (the dashboard's `POST …/reconciliation` is the way that goes through the workflow and
the realm's budget); `revoke` revokes the grant at Intuit and clears the stored tokens of a connection whose
workflow is gone (refused while it runs: use `disconnect`); `rotate-keys` re-encrypts every stored token under the first key of
TOKEN_ENCRYPTION_KEY (resumable, idempotent; exit 3 when a token could not be rewrapped); the others talk to
the workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from temporalio.client import WorkflowUpdateFailedError

from rules.preferences import Preferences
from settings import get_settings
from starter import partners
from starter.client import connect_temporal


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m starter", description="Partner workflow operations")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    sub.add_parser("rotate-keys", help="re-encrypt every stored token under the first TOKEN_ENCRYPTION_KEY")
    for name in ("status", "sync", "disconnect", "preferences", "reconcile", "revoke"):
        cmd = sub.add_parser(name)
        cmd.add_argument("partner_id")
    prefs = sub.choices["preferences"]
    prefs.add_argument("--payment-account")
    prefs.add_argument("--create-deposits", action=argparse.BooleanOptionalAction, default=None)
    prefs.add_argument("--deposit-account")
    prefs.add_argument("--fee-account")
    sub.choices["disconnect"].add_argument("--reason", default="requested from the CLI")
    return parser


async def _list(settings) -> list[dict]:
    from store.db import create_pool

    pool = await create_pool(settings.database_url)
    try:
        rows = await pool.fetch(
            "SELECT p.id, p.name, c.state, c.realm_id, c.last_synced_at FROM partners p "
            "LEFT JOIN qbo_connections c ON c.partner_id = p.id ORDER BY p.created_at")
        return [{"id": r["id"], "name": r["name"], "qbo_state": r["state"] or "not_connected",
                 "realm_id": r["realm_id"],
                 "last_synced_at": r["last_synced_at"].isoformat() if r["last_synced_at"] else None} for r in rows]
    finally:
        await pool.close()


async def _reconcile(settings, partner_id: str) -> dict:
    from qbo.client import QboApi
    from services.reconcile import reconcile
    from store.db import create_pool

    pool = await create_pool(settings.database_url)
    qbo = QboApi(settings, pool)
    try:
        return await reconcile(pool, qbo, partner_id)
    finally:
        await qbo.aclose()
        await pool.close()


async def _rotate_keys(settings) -> dict:
    from qbo.client import QboApi
    from store.db import create_pool

    pool = await create_pool(settings.database_url)
    qbo = QboApi(settings, pool)
    try:
        return await qbo.tokens.rewrap_all()
    finally:
        await qbo.aclose()
        await pool.close()


class Refused(Exception):
    """The operation does not apply (exit code 2, the message on stderr)."""


async def _revoke(settings, client, partner_id: str) -> dict:
    from qbo.client import QboApi
    from store.db import create_pool

    if await partners.workflow_running(client, partner_id):
        raise Refused(f"the workflow of partner {partner_id} is running: use `disconnect`, which stops it too")
    pool = await create_pool(settings.database_url)
    qbo = QboApi(settings, pool)
    try:
        row = await pool.fetchrow("SELECT realm_id, state, refresh_token_enc IS NOT NULL AS has_tokens "
                                  "FROM qbo_connections WHERE partner_id = $1", partner_id)
        if row is None:
            raise Refused(f"partner {partner_id} has no QuickBooks connection")
        await qbo.tokens.disconnect(partner_id)
        await pool.execute("UPDATE qbo_connections SET workflow_pending = false WHERE partner_id = $1", partner_id)
        return {"partner_id": partner_id, "realm_id": row["realm_id"], "state": "disconnected",
                "revoked": bool(row["has_tokens"])}
    finally:
        await qbo.aclose()
        await pool.close()


async def _preferences(client, args) -> Preferences:
    current = (await partners.status(client, args.partner_id)).preferences or Preferences()
    changes = {k: v for k, v in {
        "payment_account_id": args.payment_account, "create_deposits": args.create_deposits,
        "deposit_account_id": args.deposit_account, "fee_account_id": args.fee_account}.items() if v is not None}
    return await partners.update_preferences(client, args.partner_id, current.model_copy(update=changes))


async def run(args: argparse.Namespace) -> object:
    settings = get_settings()
    if args.command == "list":
        return await _list(settings)
    if args.command == "reconcile":
        return await _reconcile(settings, args.partner_id)
    if args.command == "rotate-keys":
        return await _rotate_keys(settings)
    client = await connect_temporal(settings)
    if args.command == "status":
        return await partners.status(client, args.partner_id)
    if args.command == "sync":
        await partners.sync_now(client, args.partner_id)
        return {"partner_id": args.partner_id, "sync": "requested"}
    if args.command == "preferences":
        return await _preferences(client, args)
    if args.command == "revoke":
        return await _revoke(settings, client, args.partner_id)
    return await partners.disconnect(client, args.partner_id, args.reason)


def _print(result: object, as_json: bool) -> None:
    data = result.model_dump(mode="json") if hasattr(result, "model_dump") else result
    if as_json:
        print(json.dumps(data, indent=2, default=str))  # Decimal amounts print as exact strings
    elif isinstance(data, list):
        for row in data:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    else:
        for key, value in (data or {}).items():
            print(f"{key:>18}: {value}")


def main() -> int:
    args = _parser().parse_args()
    try:
        result = asyncio.run(run(args))
        _print(result, args.json)
        code = 3 if args.command == "rotate-keys" and result["failed"] else 0
    except WorkflowUpdateFailedError as err:
        print(f"rejected: {err.cause}", file=sys.stderr)
        code = 2
    except Refused as err:
        print(f"refused: {err}", file=sys.stderr)
        code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # sdk-python#300: a short-lived Temporal client can abort at interpreter exit


if __name__ == "__main__":
    main()
