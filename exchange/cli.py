"""The ``exchange`` command: serve, admin (works directly on the database), publish, verify.

Errors are one line on stderr: exit 1 for bad input, 2 for bad usage; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from exchange import __version__
from exchange.config import DEFAULT_DB, Settings, load_settings
from exchange.errors import ExchangeError, InvalidInput
from exchange.logs import configure_logging
from exchange.services.keys import key_json
from exchange.services.members import member_json, rule_json
from exchange.services.runtime import Services, open_services
from exchange.store.base import Store, open_store
from exchange.timeutil import format_ts, parse_duration, parse_ts


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


Printer = Callable[[dict[str, Any]], str]


def _emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(human.rstrip("\n") + "\n")


def _group_json(group: Any) -> dict[str, Any]:
    return {"group": group.name, "members": list(group.members)}


# --- admin commands -----------------------------------------------------------------------------


async def member_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.add(a.name, a.kind, a.sector, a.economy)
    return member_json(m), f"member {m.id} ({m.name}), identity {m.identity}"


async def member_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    members = await s.members.list_members()
    lines = [f"{m.id}  {m.status.value:9}  {m.kind.value:10}  {m.economy}  {m.sector}  {m.name}"
             for m in members]
    return {"members": [member_json(m) for m in members]}, "\n".join(lines) or "no members"


async def member_show(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.get(a.member)
    data = member_json(m)
    data["groups"] = await s.store.groups_of(m.id)
    return data, "\n".join(f"{k}: {v}" for k, v in data.items())


async def member_suspend(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.suspend(a.member)
    return member_json(m), f"member {m.id} suspended: its tokens stop working now"


async def member_reinstate(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.reinstate(a.member)
    return member_json(m), f"member {m.id} reinstated"


async def token_issue(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    ttl = None if a.ttl in ("never", "0") else parse_duration(a.ttl)
    token, secret = await s.members.issue_token(a.member, ttl, a.read_only)
    data = {
        "token_id": token.token_id,
        "token": secret,
        "member": token.member,
        "expires": format_ts(token.expires) if token.expires else None,
        "scope": token.scope.value,
    }
    return data, (
        f"token {token.token_id} for member {token.member} ({token.scope.value}), "
        f"expires {data['expires'] or 'never'}\n{secret}\n"
        "(shown once: the exchange keeps only its hash)"
    )


async def token_revoke(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    token = await s.members.revoke_token(a.token_id)
    revoked = format_ts(token.revoked) if token.revoked else None
    payload = {"token_id": token.token_id, "revoked": True, "revoked_at": revoked,
               "member": token.member}
    return payload, (
        f"token {token.token_id} revoked at {revoked}"
    )


def _key_out(key: Any) -> dict[str, Any]:
    return key_json(key)


async def key_generate(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    out = Path(a.out)
    if out.exists():
        raise InvalidInput(f"{out} exists already; the exchange will not overwrite a key file")
    if not out.parent.is_dir():
        raise InvalidInput(f"no folder {out.parent} for the key file")
    lifetime = parse_duration(a.ttl) if a.ttl else None
    key, private_pem = await s.keys.generate(a.member, lifetime)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    os.chmod(out, 0o600)
    return _key_out(key), f"key {key.key_id} for member {key.member}; private key in {out} (0600)"


async def key_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    try:
        pem = Path(a.public_key).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {a.public_key}: {exc.strerror}") from exc
    lifetime = parse_duration(a.ttl) if a.ttl else None
    key = await s.keys.add(a.member, pem, lifetime)
    return _key_out(key), f"key {key.key_id} registered for member {key.member}"


async def key_revoke(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    since = parse_ts(a.since) if a.since else None
    key = await s.keys.revoke(a.key_id, since)
    revoked = format_ts(key.revoked_since) if key.revoked_since else None
    return {"key_id": key.key_id, "revoked_since": revoked, "member": key.member}, (
        f"key {key.key_id} revoked for objects modified at or after {revoked}"
    )


async def key_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    keys = await s.keys.list_keys(a.member, a.expiring)
    lines = [
        f"{k.key_id}  {k.member or '(exchange)'}  until {format_ts(k.not_after) if k.not_after else 'never'}"
        + (f"  revoked since {format_ts(k.revoked_since)}" if k.revoked_since else "")
        for k in keys
    ]
    return {"keys": [_key_out(k) for k in keys]}, "\n".join(lines) or "no keys"


async def group_create(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    g = await s.members.create_group(a.name)
    return _group_json(g), f"group {g.name} created"


async def group_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    g = await s.members.add_to_group(a.name, a.member)
    return _group_json(g), f"group {g.name}: {', '.join(g.members)}"


async def group_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    groups = await s.members.groups()
    lines = [f"{g.name}: {', '.join(g.members) or '(empty)'}" for g in groups]
    return {"groups": [_group_json(g) for g in groups]}, "\n".join(lines) or "no groups"


async def rules_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if a.direction == "outbound":
        rule = await s.members.add_rule(a.member, "outbound", a.effect, a.values)
    else:
        rule = await s.members.add_rule(a.member, "inbound", "only", a.values, field=a.field)
    data = rule_json(rule)
    return data, f"rule {rule.rule_id}: {rule.direction.value} {rule.effect.value} {list(rule.values)}"


async def rules_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    rules = await s.members.rules(a.member)
    lines = [
        f"{r.rule_id}  {r.member}  {r.direction.value} {r.effect.value}"
        f"{' ' + r.field if r.field else ''} {', '.join(r.values)}"
        for r in rules
    ]
    return {"rules": [rule_json(r) for r in rules]}, "\n".join(lines) or "no rules"


async def rules_remove(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    await s.members.delete_rule(a.rule_id)
    return {"rule_id": a.rule_id, "removed": True}, f"rule {a.rule_id} removed"


async def explain_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    result = await s.members.explain(a.object_id, a.member, s.auth)
    verdict = "may read" if result["allowed"] else "may not read"
    return result, f"{a.member} {verdict} {a.object_id}: {result['reason']} ({result['rule']})"


async def deliveries_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    found = await s.members.deliveries(a.object_id, None)
    rows = [{"member": d.member, "version": d.version, "delivered": d.delivered} for d in found]
    lines = [f"{r['delivered']}  {r['member']}  {r['version']}" for r in rows]
    return {"id": a.object_id, "deliveries": rows}, "\n".join(lines) or "not delivered to anyone"


async def migrate_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    current, expected = await s.store.schema_version()
    return {"schema_version": current, "expected": expected}, f"schema version {current}"


AdminCommand = Callable[[Services, argparse.Namespace], Awaitable[tuple[dict[str, Any], str]]]


# backup and restore work on the bare store: the bootstrap every other admin command runs
# (the exchange's identity and definitions) would make a restore target non-empty.
StoreCommand = Callable[[Store, argparse.Namespace], Awaitable[tuple[dict[str, Any], str]]]


async def backup_cmd(store: Store, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from exchange.store.backup import backup

    done = await backup(store, a.file)
    return {"file": done.file, "schema_version": done.schema_version, "tables": done.tables}, (
        f"backed up {done.rows} rows of {len(done.tables)} tables to {done.file} "
        f"(schema version {done.schema_version})"
    )


async def restore_cmd(store: Store, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from exchange.store.backup import restore

    done = await restore(store, a.file)
    return {"file": done.file, "schema_version": done.schema_version, "tables": done.tables}, (
        f"restored {done.rows} rows of {len(done.tables)} tables from {done.file}"
    )


async def _run_store(settings: Settings, command: StoreCommand, args: argparse.Namespace) -> None:
    # Check the file and the source before opening the store (which would create a database).
    if command is restore_cmd:
        from exchange.store.backup import read_header

        read_header(args.file)
    elif settings.db.startswith("sqlite:///"):
        from exchange.store.sqlite import sqlite_path

        if not Path(sqlite_path(settings.db)).is_file():
            raise InvalidInput(f"no database {sqlite_path(settings.db)} to back up")
    store = open_store(settings.db)
    await store.open()
    try:
        payload, human = await command(store, args)
    finally:
        await store.close()
    _emit(args, payload, human)


async def _run_admin(settings: Settings, command: AdminCommand, args: argparse.Namespace) -> None:
    services = await open_services(settings)
    try:
        payload, human = await command(services, args)
    finally:
        await services.ledger.stop()
        await services.store.close()
    _emit(args, payload, human)


# --- client commands ---------------------------------------------------------------------------


def publish_cmd(args: argparse.Namespace) -> int:
    from exchange.client.publish import publish_file

    status, ok = publish_file(
        args.file, args.url, args.token, args.key, progress=not args.json and not args.quiet
    )
    human = (
        f"{status.get('success_count', 0)} stored, {status.get('failure_count', 0)} refused"
        + "".join(f"\n  {f['id']}: {f['message']}" for f in status.get("failures", []))
    )
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
    else:
        sys.stdout.write(human + "\n")
    return 0 if ok else 1


def verify_cmd(args: argparse.Namespace) -> int:
    from exchange.client.verify import verify_file

    result = verify_file(args.file, args.url, args.token)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    else:
        lines = [f"valid    {i}" for i in result["valid"]]
        lines += [f"INVALID  {r['id']}: {r['reason']}" for r in result["invalid"]]
        sys.stdout.write("\n".join(lines) + "\n")
    return 1 if result["invalid"] else 0


# --- serve -------------------------------------------------------------------------------------


def serve_cmd(settings: Settings) -> int:
    from exchange.web.serve import serve

    return serve(settings)


# --- parser ------------------------------------------------------------------------------------


SERVE_SETTINGS = ("header_timeout_seconds", "body_timeout_seconds", "idle_timeout_seconds",
                  "max_connections_per_address", "metrics_host", "metrics_port")


def build_parser() -> Parser:
    common = Parser(add_help=False)
    # SUPPRESS: a subcommand that is not given --db must not erase one given before it.
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help=f"database URL (else $EXCHANGE_DB, else {DEFAULT_DB})")
    common.add_argument("--config", default=argparse.SUPPRESS,
                        help="TOML settings file (else $EXCHANGE_CONFIG)")
    out = Parser(add_help=False)
    out.add_argument("--json", action="store_true", help="print exactly one JSON object")

    parser = Parser(prog="exchange", description="The exchange: signed STIX 2.1 bulletins over TAXII 2.1",
                    parents=[common])
    parser.add_argument("--version", action="version", version=f"exchange {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = sub.add_parser("serve", help="serve the TAXII API", parents=[common])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="worker processes on one port")
    serve.add_argument("--header-timeout", type=float, dest="header_timeout_seconds",
                       help="seconds for a request's headers (default 10)")
    serve.add_argument("--body-timeout", type=float, dest="body_timeout_seconds",
                       help="seconds for a request's body (default 60)")
    serve.add_argument("--idle-timeout", type=float, dest="idle_timeout_seconds",
                       help="seconds a keep-alive connection may stay idle (default 75)")
    serve.add_argument("--max-connections-per-address", type=int,
                       dest="max_connections_per_address",
                       help="open connections per client address, 0 for no cap (default 256)")
    serve.add_argument("--metrics-host", help="address of the metrics listener")
    serve.add_argument("--metrics-port", type=int, help="serve /metrics on this port only")

    admin = sub.add_parser("admin", help="administer members, tokens, keys, groups and rules",
                           parents=[common])
    asub = admin.add_subparsers(dest="area", required=True, parser_class=Parser)

    def leaf(parent: Any, name: str, handler: AdminCommand, help_text: str) -> Parser:
        p: Parser = parent.add_parser(name, help=help_text, parents=[common, out])
        p.set_defaults(handler=handler)
        return p

    member = asub.add_parser("member", help="members").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    p = leaf(member, "add", member_add, "register a member and its STIX identity")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=["government", "private"])
    p.add_argument("--sector", required=True)
    p.add_argument("--economy", required=True, help="ISO 3166-1 alpha-2 code")
    leaf(member, "list", member_list, "list members")
    for name, fn, text in (("show", member_show, "show a member"),
                           ("suspend", member_suspend, "suspend a member"),
                           ("reinstate", member_reinstate, "reinstate a suspended member")):
        leaf(member, name, fn, text).add_argument("member", metavar="MEMBER")

    token = asub.add_parser("token", help="API tokens").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    p = leaf(token, "issue", token_issue, "issue an API token (shown once)")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--ttl", default="90d", help="lifetime like 90d, 12h; 'never' for none")
    p.add_argument("--read-only", action="store_true")
    leaf(token, "revoke", token_revoke, "revoke a token now").add_argument("token_id")

    key = asub.add_parser("key", help="signing keys").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    p = leaf(key, "generate", key_generate, "make an Ed25519 key pair for a member")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--out", required=True, help="private key file (PEM, mode 0600)")
    p.add_argument("--ttl", help="validity, default 730d")
    p = leaf(key, "add", key_add, "register a member's existing public key")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--public-key", required=True)
    p.add_argument("--ttl", help="validity, default 730d")
    p = leaf(key, "revoke", key_revoke, "revoke a key for objects modified at or after --since")
    p.add_argument("key_id")
    p.add_argument("--since", help="timestamp, default now")
    p = leaf(key, "list", key_list, "list keys")
    p.add_argument("member", nargs="?", metavar="MEMBER")
    p.add_argument("--expiring", type=int, metavar="DAYS", help="only keys lapsing within DAYS")

    group = asub.add_parser("group", help="sharing groups").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    leaf(group, "create", group_create, "create a sharing group").add_argument("name")
    p = leaf(group, "add", group_add, "add a member to a group")
    p.add_argument("name")
    p.add_argument("member", metavar="MEMBER")
    leaf(group, "list", group_list, "list groups")

    rules = asub.add_parser("rules", help="standing rules").add_subparsers(
        dest="action", required=True, parser_class=Parser)
    p = leaf(rules, "outbound", rules_add,
             "narrow everything MEMBER publishes: require or deny audience entries")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("effect", choices=["require", "deny"])
    p.add_argument("values", nargs="+", metavar="ENTRY",
                   help="member:identity--…, group:G, sector:S, economy:CC, kind:K")
    p.set_defaults(direction="outbound")
    p = leaf(rules, "inbound", rules_add, "filter what MEMBER reads")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("field", choices=["type", "tlp", "publisher", "sector"])
    p.add_argument("values", nargs="+", metavar="VALUE")
    p.set_defaults(direction="inbound")
    leaf(rules, "list", rules_list, "list rules").add_argument("member", nargs="?")
    leaf(rules, "remove", rules_remove, "remove a rule").add_argument("rule_id")

    p = leaf(asub, "explain", explain_cmd, "may MEMBER read OBJECT_ID, and which rule decides")
    p.add_argument("object_id")
    p.add_argument("member", metavar="MEMBER")
    leaf(asub, "deliveries", deliveries_cmd, "who received an object").add_argument("object_id")
    leaf(asub, "migrate", migrate_cmd, "bring the database schema up to date")
    for name, store_fn, text in (
        ("backup", backup_cmd, "write a consistent backup of the database to FILE (online)"),
        ("restore", restore_cmd, "load a backup FILE into a new, empty database"),
    ):
        p = asub.add_parser(name, help=text, parents=[common, out])
        p.set_defaults(store_handler=store_fn)
        p.add_argument("file", metavar="FILE", help="gzip'd JSON lines (see docs/deploy.md)")

    for name, client, text in (("publish", publish_cmd, "sign and post a STIX bundle or envelope"),
                               ("verify", verify_cmd, "check every object's signature")):
        # --db is accepted for uniformity; the client talks to the API, not the database.
        p = sub.add_parser(name, help=text, parents=[common, out])
        p.add_argument("file")
        p.add_argument("--url", required=True, help="API root URL, e.g. http://127.0.0.1:8080/api/v1/")
        p.add_argument("--token", required=True)
        if name == "publish":
            p.add_argument("--key", required=True, help="your private key (PEM)")
            p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(client=client)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    try:
        if getattr(args, "client", None) is not None:
            return int(args.client(args))
        settings = load_settings(
            getattr(args, "config", None),
            db=getattr(args, "db", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            workers=getattr(args, "workers", None),
            **{name: getattr(args, name, None) for name in SERVE_SETTINGS},
        )
        if args.command == "serve":
            return serve_cmd(settings)
        configure_logging(settings.log_format, "warning")
        if getattr(args, "store_handler", None) is not None:
            asyncio.run(_run_store(settings, args.store_handler, args))
        else:
            asyncio.run(_run_admin(settings, args.handler, args))
        return 0
    except ExchangeError as exc:
        sys.stderr.write(f"exchange: {exc.message}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a port in use, a folder that cannot be written, …
        sys.stderr.write(f"exchange: {exc.strerror or exc}\n")
        return 1
    except Exception as exc:  # never a traceback on the terminal
        sys.stderr.write(f"exchange: internal error ({type(exc).__name__}); please report it\n")
        return 1

