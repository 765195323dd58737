"""The `chatdock` command line: init, keys, agents, tickets, webhooks, serve, db."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from sqlalchemy import func, select

from server import cli_operator, migrate
from server.cli_support import command_app, output
from server.config import load_config
from server.db import make_engine, session_scope
from server.errors import ApiError
from server.models import Business
from server.services.keys import (
    do_create_business,
    do_create_key,
    do_revoke_key,
    find_business,
    key_json,
    list_keys,
    remember_demo_key,
)

DEMO_OWNER = "owner@demo.invalid"


def _create_business(session: Any, name: str, email: str, password: str | None) -> dict[str, Any]:
    business, owner = do_create_business(session, name, email, password)
    pk, pk_text = do_create_key(session, business, "publishable", "test", name="Default")
    sk, sk_text = do_create_key(session, business, "secret", "test", name="Default")
    return {"business": {"id": business.id, "name": business.name, "slug": business.slug},
            "owner": {"id": owner.id, "email": owner.email},
            "publishable_key": pk_text, "secret_key": sk_text,
            "keys": [{"id": pk.id, "prefix": pk.prefix}, {"id": sk.id, "prefix": sk.prefix}]}


def cmd_init(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        data = _create_business(session, args.business, args.owner_email, args.owner_password)
    output(args, data, [
        f"Created business {data['business']['name']!r} (slug {data['business']['slug']}).",
        f"  publishable key: {data['publishable_key']}",
        f"  secret key:      {data['secret_key']}",
        "These keys are shown once; store them now."])


def _split(raw: str | None) -> list[str]:
    return [p for p in (raw or "").replace(",", " ").split() if p]


def cmd_keys_create(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        key, plaintext = do_create_key(
            session, find_business(session, args.business), args.type, args.mode,
            name=args.name or "", scopes=_split(args.scopes) if args.scopes else None,
            origins=_split(args.origins), bundle_ids=_split(args.bundle_ids))
        data = {**key_json(key), "key": plaintext}
    output(args, data, [f"Key {data['id']} ({data['type']}, {data['mode']}): {plaintext}",
                      "Shown once; store it now."])


def cmd_keys_list(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        rows = [key_json(k) for k in list_keys(session, find_business(session, args.business))]
    output(args, {"keys": rows}, [
        f"{r['id']:>5}  {r['prefix']:<20} {r['type']:<12} {r['mode']:<5} "
        f"{'revoked ' + str(r['revoked_at']) if r['revoked_at'] else 'active'}" for r in rows])


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        data = key_json(do_revoke_key(session, args.key_id))
    output(args, data, [f"Key {data['id']} ({data['prefix']}) revoked at {data['revoked_at']}."])


def _ensure_demo(app: Any, base: str) -> None:
    """On an empty database, create a demo business and print its test keys once."""
    with session_scope(app) as session:
        if session.scalar(select(func.count(Business.id))):
            print(f"chatdock: serving {base} (existing database; mint keys with "
                  "`chatdock keys create --business SLUG ...`)", flush=True)
            return
        password = secrets.token_urlsafe(12)
        data = _create_business(session, "Demo Business", DEMO_OWNER, password)
        # publishable keys are public by design: /widget/demo embeds this one (docs/widget.md)
        remember_demo_key(session, data["publishable_key"])
    pk, sk = data["publishable_key"], data["secret_key"]
    print("\n".join([
        f"chatdock: created the demo business (slug {data['business']['slug']}). "
        "Its test keys and owner login, shown once:",
        f"  publishable key: {pk}",
        f"  secret key:      {sk}",
        f"  owner login:     {DEMO_OWNER} / {password}",
        "Try:",
        f"  curl -H 'Authorization: Bearer {pk}' {base}/api/v1/chat/config",
        f"  curl -X POST -H 'Authorization: Bearer {pk}' -H 'Content-Type: application/json' "
        f"-d '{{\"visitor_id\":\"v1\"}}' {base}/api/v1/chat/sessions",
        f"  curl -X POST -H 'Content-Type: application/json' -d "
        f"'{{\"email\":\"{DEMO_OWNER}\",\"password\":\"{password}\",\"mode\":\"test\"}}' "
        f"{base}/api/v1/auth/login",
        f"  health: {base}/healthz",
        f"  widget demo: {base}/widget/demo",
    ]), flush=True)


def cmd_serve(args: argparse.Namespace) -> None:
    from server import serve  # gunicorn and gevent: only for the command that serves
    serve.prepare(load_config())  # JSON stderr, the workers' metrics directory
    app = command_app(relay_events=False)
    if args.workers > 1 and not app.config["REDIS_URL"]:
        raise ApiError("--workers above 1 needs CHATDOCK_REDIS_URL: events must reach every "
                       "process's sockets.")
    _ensure_demo(app, app.config["PUBLIC_URL"] or f"http://{args.host}:{args.port}")
    app.extensions["engine"].dispose()  # workers open their own connections after fork
    serve.run(args.host, args.port, args.workers, app.config["WORKER_CONNECTIONS"])


def cmd_db(args: argparse.Namespace) -> None:
    """Run `chatdock db upgrade|downgrade|current|revision` (the database only, no app)."""
    if args.db_cmd == "revision":
        print(f"wrote {migrate.revision(args.message, args.autogenerate)}")
        return
    engine = make_engine(load_config()["DATABASE_URL"])
    if args.db_cmd == "current":
        found = migrate.current(engine)
        output(args, {"revision": found, "head": migrate.head(),
                      "at_head": found == migrate.head()}, [migrate.describe(engine)])
        return
    move = migrate.upgrade if args.db_cmd == "upgrade" else migrate.downgrade
    before, after = move(engine, args.rev)
    print(f"chatdock: the database is at revision {after or 'base'} (was {before or 'none'})")


def add_db_commands(sub: Any) -> None:
    """Add `chatdock db ...`: schema migrations (server/migrations)."""
    db = sub.add_parser("db", help="database schema: upgrade, downgrade, current")
    cmds = db.add_subparsers(dest="db_cmd", required=True)
    cmds.add_parser("upgrade", help="migrate to REV (default: head)").add_argument(
        "rev", nargs="?", default="head")
    cmds.add_parser("downgrade", help="migrate back to REV (base: drop all)").add_argument("rev")
    cmds.add_parser("current", help="the revision, and whether at head").add_argument(
        "--json", action="store_true")
    p = cmds.add_parser("revision", help="developers: write the next migration file")
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--autogenerate", action="store_true",
                   help="fill it with the difference between the models and head")
    db.set_defaults(func=cmd_db)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatdock", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_db_commands(sub)

    p = sub.add_parser("init", help="create a business, its owner and test keys")
    p.add_argument("--business", required=True)
    p.add_argument("--owner-email", required=True)
    p.add_argument("--owner-password")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_init)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_cmd",
                                                                          required=True)
    p = keys.add_parser("create")
    p.add_argument("--business", required=True, help="business slug")
    p.add_argument("--type", required=True, choices=["publishable", "secret"])
    p.add_argument("--mode", required=True, choices=["test", "live"])
    p.add_argument("--name")
    p.add_argument("--origins", help="allowed web origins (publishable), space/comma separated")
    p.add_argument("--bundle-ids", help="allowed app bundle ids (publishable)")
    p.add_argument("--scopes", help="scopes (secret); default all")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list")
    p.add_argument("--business", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke")
    p.add_argument("key_id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_keys_revoke)

    cli_operator.add_parsers(sub)  # agents, tickets, webhooks

    p = sub.add_parser("serve", help="run the server (gunicorn, gevent workers)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1,
                   help="processes (more than 1 needs CHATDOCK_REDIS_URL)")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `chatdock` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ApiError as err:
        print(f"chatdock: {err.message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
