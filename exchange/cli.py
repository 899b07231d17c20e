"""The ``exchange`` command: serve, admin (works directly on the database), publish, verify.

Errors are one line on stderr: exit 1 for bad input, 2 for bad usage; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from exchange import __version__
from exchange.config import DEFAULT_DB, Settings, load_settings
from exchange.errors import ExchangeError, InvalidInput, NotFound
from exchange.logs import configure_logging
from exchange.models import AuditEntry, AuditOutcome
from exchange.services.federation import peer_json
from exchange.services.keys import key_json
from exchange.services.members import member_json, rule_json
from exchange.services.runtime import Services, open_services
from exchange.store.base import Store, open_store
from exchange.timeutil import DURATION_RANGE, format_ts, now, parse_duration, parse_ts


class UsageError(Exception):
    pass


SUBCOMMAND_DESTS = ("command", "area", "action")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if any(message == f"the following arguments are required: {d}" for d in SUBCOMMAND_DESTS):
            # No command given: show what there is to choose from.
            raise UsageError(
                f"{self.format_usage().rstrip()}\n{self.prog}: give a command "
                f"(`{self.prog} --help` says what each does)"
            )
        raise UsageError(f"{self.prog}: {message}")


Printer = Callable[[dict[str, Any]], str]


def _emit(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(human.rstrip("\n") + "\n")


def _group_json(group: Any) -> dict[str, Any]:
    return {"group": group.name, "members": list(group.members)}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], empty: str) -> str:
    """A plain-text list: a header row, then one aligned row per item; ``empty`` when none."""
    if not rows:
        return empty
    cells = [[str(h) for h in headers], *[["-" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


async def member_names(s: Services) -> dict[str, str]:
    """Member id -> name, and identity -> name (the exchange's own identity included)."""
    names = {s.exchange_identity: "(the exchange)"}
    for m in await s.members.list_members():
        names[m.id] = m.name
        names[m.identity] = m.name
    return names


def _ts_or(value: Any, default: str) -> str:
    return format_ts(value) if value else default


# --- admin commands -----------------------------------------------------------------------------


async def member_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if a.if_absent:
        existing = next(
            (m for m in await s.members.list_members() if m.name == a.name.strip()), None
        )
        if existing is not None:
            same = (existing.kind.value, existing.sector, existing.economy) == (
                a.kind,
                a.sector,
                a.economy.upper(),
            )
            if not same:
                raise InvalidInput(
                    f"member {existing.name!r} exists already as {existing.kind.value}, "
                    f"{existing.sector}, {existing.economy}: not {a.kind}, {a.sector}, "
                    f"{a.economy.upper()}"
                )
            data = member_json(existing) | {"created_now": False}
            return data, f"member {existing.id} ({existing.name}) exists already"
    m = await s.members.add(a.name, a.kind, a.sector, a.economy, a.share)
    return member_json(m) | {"created_now": True}, (
        f"member {m.id} ({m.name}), identity {m.identity}"
    )


async def member_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    members = await s.members.list_members()
    rows = [(m.id, m.name, m.status.value, m.kind.value, m.economy, m.sector) for m in members]
    return {"members": [member_json(m) for m in members]}, table(
        ("ID", "NAME", "STATUS", "KIND", "ECONOMY", "SECTOR"), rows, "no members"
    )


async def member_show(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.get(a.member)
    data = member_json(m)
    data["groups"] = await s.store.sharing.groups_of(m.id)
    return data, "\n".join(f"{k}: {v}" for k, v in data.items())


async def member_suspend(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.suspend(a.member)
    return member_json(m), f"member {m.id} suspended: its tokens stop working now"


async def member_reinstate(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = await s.members.reinstate(a.member)
    return member_json(m), f"member {m.id} reinstated"


async def token_issue(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    ttl = None if a.ttl == "never" else parse_duration(a.ttl)
    token, secret = await s.members.issue_token(a.member, ttl, a.read_only)
    data = {
        "token_id": token.token_id,
        "token": secret,
        "member": token.member,
        "expires": format_ts(token.expires) if token.expires else None,
        "scope": token.scope.value,
    }
    return data, (
        f"token {token.token_id} for member {token.member} ({a.member_name}, "
        f"{token.scope.value}), "
        f"expires {data['expires'] or 'never'}\n{secret}\n"
        "(shown once: the exchange keeps only its hash)"
    )


async def token_revoke(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    token = await s.members.revoke_token(a.token_id)
    revoked = format_ts(token.revoked) if token.revoked else None
    payload = {
        "token_id": token.token_id,
        "revoked": True,
        "revoked_at": revoked,
        "member": token.member,
    }
    return payload, (f"token {token.token_id} revoked at {revoked}")


async def token_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    tokens = await s.store.members.list_tokens(a.member)
    names = await member_names(s)
    found = [
        {
            "token_id": t.token_id,
            "member": t.member,
            "name": names.get(t.member),
            "scope": t.scope.value,
            "created": format_ts(t.created),
            "expires": format_ts(t.expires) if t.expires else None,
            "last_used": format_ts(t.last_used) if t.last_used else None,
            "revoked": format_ts(t.revoked) if t.revoked else None,
        }
        for t in tokens
    ]
    rows = [
        (
            t["token_id"],
            t["member"],
            t["name"],
            t["scope"],
            t["expires"] or "never",
            t["last_used"] or "never",
            t["revoked"] or "",
        )
        for t in found
    ]
    return {"tokens": found}, table(
        ("TOKEN_ID", "MEMBER", "NAME", "SCOPE", "EXPIRES", "LAST_USED", "REVOKED"),
        rows,
        "no tokens",
    )


def _key_out(key: Any, names: dict[str, str] | None = None) -> dict[str, Any]:
    data = key_json(key)
    if names is not None:
        data["name"] = names.get(key.member or key.identity)
    return data


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
    names = await member_names(s)
    rows = [
        (
            k.key_id,
            k.member or "-",
            names.get(k.member or k.identity),
            _ts_or(k.not_before, "-"),
            _ts_or(k.not_after, "never"),
            _ts_or(k.revoked_since, ""),
        )
        for k in keys
    ]
    return {"keys": [_key_out(k, names) for k in keys]}, table(
        ("KEY_ID", "MEMBER", "NAME", "NOT_BEFORE", "NOT_AFTER", "REVOKED_SINCE"), rows, "no keys"
    )


async def key_show(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    key = await s.store.members.get_key(a.key_id)
    if key is None:
        raise NotFound(f"no key {a.key_id!r}")
    data = _key_out(key, await member_names(s))
    human = (
        "\n".join(f"{k}: {v}" for k, v in data.items() if k != "public_key")
        + "\n"
        + str(data["public_key"]).rstrip("\n")
    )
    return data, human


async def group_create(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    g = await s.members.create_group(a.name)
    return _group_json(g), f"group {g.name} created"


def _named(ids: Sequence[str], names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(i, '?')} ({i})" for i in ids) or "(empty)"


async def group_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    g = await s.members.add_to_group(a.name, a.member)
    return _group_json(g), f"group {g.name}: {_named(g.members, await member_names(s))}"


async def group_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    groups = await s.members.groups()
    names = await member_names(s)
    rows = [(g.name, len(g.members), _named(g.members, names)) for g in groups]
    return {"groups": [_group_json(g) for g in groups]}, table(
        ("GROUP", "SIZE", "MEMBERS"), rows, "no groups"
    )


async def rules_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if a.direction == "outbound":
        rule = await s.members.add_rule(a.member, "outbound", a.effect, a.values)
    elif a.direction == "submission":
        value = "default" if a.effect == "anonymous" else "pii"
        rule = await s.members.add_rule(a.member, "submission", a.effect, [value])
    else:
        rule = await s.members.add_rule(a.member, "inbound", "only", a.values, field=a.field)
    data = rule_json(rule)
    return (
        data,
        f"rule {rule.rule_id}: {rule.direction.value} {rule.effect.value} {list(rule.values)}",
    )


def _rule_rows(rules: Sequence[Any], names: dict[str, str]) -> list[tuple[object, ...]]:
    return [
        (
            r.rule_id,
            r.member,
            names.get(r.member),
            r.direction.value,
            r.effect.value,
            r.field or "",
            ", ".join(f"{v} ({names[v]})" if v in names else v for v in r.values),
        )
        for r in rules
    ]


RULE_HEADERS = ("RULE_ID", "MEMBER", "NAME", "DIRECTION", "EFFECT", "FIELD", "VALUES")


async def rules_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    rules = await s.members.rules(a.member)
    rows = _rule_rows(rules, await member_names(s))
    return {"rules": [rule_json(r) for r in rules]}, table(RULE_HEADERS, rows, "no rules")


async def rules_remove(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    await s.members.delete_rule(a.rule_id)
    return {"rule_id": a.rule_id, "removed": True}, f"rule {a.rule_id} removed"


async def explain_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if a.object_id is None:
        return await explain_summary(s, a)
    result = await s.members.explain(a.object_id, a.member, s.auth)
    verdict = "may read" if result["allowed"] else "may not read"
    return result, (
        f"{a.member} ({a.member_name}) {verdict} {a.object_id}: {result['reason']} "
        f"({result['rule']})"
    )


async def explain_summary(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    summary = await s.members.read_summary(a.member, s.auth)
    summary["name"] = a.member_name
    names = await member_names(s)
    tlps = ", ".join(f"{t.upper()} {n}" for t, n in summary["by_tlp"].items())
    parts = [
        f"{a.member} ({a.member_name}) reads {summary['objects']} objects of bulletins "
        f"(latest versions): {tlps}",
        "",
        table(
            ("PUBLISHER", "NAME", "OBJECTS"),
            [
                (p["member"] or p["identity"], p["name"], p["objects"])
                for p in summary["by_publisher"]
            ],
            "no publisher",
        ),
        "",
        "rules in force (its own inbound filters, every publisher's outbound rules):",
        table(
            RULE_HEADERS,
            _rule_rows(
                [
                    r
                    for r in await s.members.rules()
                    if r.rule_id in {x["rule_id"] for x in summary["rules"]}
                ],
                names,
            ),
            "no rules",
        ),
    ]
    return summary, "\n".join(parts)


async def deliveries_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    found = await s.members.deliveries(a.object_id, None)
    names = await member_names(s)
    rows = [
        {
            "member": d.member,
            "name": names.get(d.member),
            "version": d.version,
            "delivered": d.delivered,
        }
        for d in found
    ]
    return {"id": a.object_id, "deliveries": rows}, table(
        ("DELIVERED", "MEMBER", "NAME", "VERSION"),
        [(r["delivered"], r["member"], r["name"], r["version"]) for r in rows],
        "not delivered to anyone",
    )


async def peer_add(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    peer = await s.peers.add(a.name, a.url, a.token)
    return peer_json(peer), f"peer {peer.name} at {peer.url}: pulled from now on"


async def peer_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    peers = await s.peers.list()
    rows = [(p.name, p.url, p.imported, p.last_pull or "never", len(p.problems)) for p in peers]
    return {"peers": [peer_json(p) for p in peers]}, table(
        ("NAME", "URL", "IMPORTED", "LAST PULL", "PROBLEMS"), rows, "no peers"
    )


async def peer_show(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    data = peer_json(await s.peers.show(a.name))
    return data, "\n".join(f"{k}: {v}" for k, v in data.items())


async def peer_remove(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    await s.peers.remove(a.name)
    return {"name": a.name, "removed": True}, f"peer {a.name} removed: no longer pulled"


async def check_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    problems = await s.store.check_integrity()
    if problems:
        raise InvalidInput(f"{len(problems)} problem(s): " + "; ".join(problems[:20]))
    return {"ok": True, "problems": []}, "the database is consistent"


async def migrate_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    current, expected = await s.store.schema_version()
    return {"schema_version": current, "expected": expected}, f"schema version {current}"


def _log_key_json(key: Any) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "public_key": key.public_key,
        "created": key.created,
        "not_after": key.not_after,
    }


async def log_key_show(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    current, *former = await s.log.key_history()
    payload = {**_log_key_json(current), "history": [_log_key_json(k) for k in former]}
    lines = [f"log key {current.key_id} (since {current.created})"]
    lines += [f"retired {k.key_id} (until {k.not_after})" for k in former]
    return payload, "\n".join(lines)


async def log_key_rotate(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    fresh, old = await s.log.rotate()
    head = await s.log.head()
    payload = {**_log_key_json(fresh), "retired": old.key_id, "tree_size": head.tree_size}
    return payload, (
        f"log key {fresh.key_id} now signs the log (tree size {head.tree_size}); "
        f"{old.key_id} retired, its heads still verify"
    )


async def audit_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    since = None
    if a.since:
        # A timestamp (it has a T), or a duration back from now (24h, 7d).
        back = "T" not in a.since
        since = format_ts(now() - parse_duration(a.since) if back else parse_ts(a.since))
    if a.limit is not None and a.limit < 1:
        raise InvalidInput("--limit takes a count, 1 or more")
    entries = await s.store.audit.list_audit(since, a.member, a.limit)
    found = [e.model_dump(mode="json", exclude_none=True) for e in entries]
    return {"entries": found}, table(
        ("AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "REASON"),
        [(e.at, e.actor, e.action, e.target, e.outcome.value, e.reason) for e in entries],
        "no audit entries",
    )


async def sealed_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    # Listing does not open: no author, no original (`sealed open` shows them, audited).
    records = await s.store.privacy.list_sealed()
    found = [
        {
            "sealed_id": r.sealed_id,
            "copy_id": r.copy_id,
            "copy_version": r.copy_version,
            "submitted_at": r.submitted_at,
            "release_at": r.release_at,
            "released_at": r.released_at,
        }
        for r in records
    ]
    return {"sealed": found}, table(
        ("SEALED_ID", "COPY_ID", "COPY_VERSION", "SUBMITTED", "RELEASED"),
        [
            (r.sealed_id, r.copy_id, r.copy_version, r.submitted_at, r.released_at or "pending")
            for r in records
        ],
        "no sealed records",
    )


async def sealed_open(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if not a.reason.strip():
        raise InvalidInput("give the reason for opening the sealed record: --reason TEXT")
    records = await s.store.privacy.find_sealed(a.sealed_id)
    author = await s.store.members.get_member(records[0].author_member)
    found = [
        {
            "sealed_id": r.sealed_id,
            "copy_id": r.copy_id,
            "copy_version": r.copy_version,
            "original_id": r.original_id,
            "original_version": r.original_version,
            "key_id": r.key_id,
            "submitted_at": r.submitted_at,
            "release_at": r.release_at,
            "released_at": r.released_at,
            "original": json.loads(r.original_body),
        }
        for r in records
    ]
    payload = {
        "id": a.sealed_id,
        "member": author.id,
        "name": author.name,
        "identity": author.identity,
        "reason": a.reason,
        "records": found,
    }
    lines = [f"{a.sealed_id}: submitted by {author.name} ({author.id}, {author.identity})"]
    lines += [
        f"  {r['original_id']} {r['original_version']} -> {r['copy_id']} {r['copy_version']} "
        f"(key {r['key_id']}, submitted {r['submitted_at']})"
        for r in found
    ]
    lines.append("(this opening is in the audit log)")
    return payload, "\n".join(lines)


async def sealed_release(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    released = await s.publish.release_anonymous(every=a.all)
    return {"released": released}, f"{released} anonymous copies published"


def _review_json(item: Any) -> dict[str, Any]:
    return {
        "review_id": item.review_id,
        "member": item.member,
        "id": item.stix_id,
        "version": item.version,
        "findings": list(item.findings),
        "submitted_at": item.submitted_at,
        "state": item.state.value,
        "decided_at": item.decided_at,
        "decided_by": item.decided_by,
    }


async def review_list(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from exchange.models import ReviewState

    state = None if a.all else ReviewState.PENDING
    items = await s.store.privacy.list_review(state, a.member)
    names = await member_names(s)
    return {"items": [_review_json(i) for i in items]}, table(
        ("REVIEW_ID", "MEMBER", "NAME", "OBJECT", "STATE", "FINDINGS"),
        [
            (
                i.review_id,
                i.member,
                names.get(i.member),
                i.stix_id,
                i.state.value,
                "; ".join(i.findings),
            )
            for i in items
        ],
        "nothing to review",
    )


async def review_decide(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    approve = a.action == "approve"
    item, results = await s.store.privacy.decide_review(
        a.review_id, approve, admin_actor(), format_ts(now()), getattr(a, "reason", None)
    )
    inserted = [r for r in results if r.outcome.value == "inserted"]
    if inserted:
        for listener in s.publish.listeners:
            await listener(inserted)
    data = _review_json(item) | {"stored": bool(inserted)}
    # the audit entry names the member whose object it is
    data["member"] = item.member
    verdict = "approved and stored" if inserted else ("approved" if approve else "rejected")
    return data, f"review {item.review_id} ({item.stix_id}): {verdict}"


async def purge_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    plan, done = await s.retention.purge(dry_run=a.dry_run)
    payload = plan.to_json() | {"dry_run": a.dry_run, "purged": done.model_dump()}
    verb = "would purge" if a.dry_run else "purged"
    lines = [
        f"{verb} {len(plan.versions)} object versions, {len(plan.sealed)} sealed records, "
        f"{len(plan.review)} review items"
    ]
    lines += [f"  {i} {v} ({why})" for _, i, v, why in plan.versions]
    return payload, "\n".join(lines)


async def export_cmd(s: Services, a: argparse.Namespace) -> tuple[dict[str, Any], str]:
    from exchange.services.export import member_export

    out = Path(a.out)
    if out.exists():
        raise InvalidInput(f"{out} exists already; the exchange will not overwrite it")
    if not out.parent.is_dir():
        raise InvalidInput(f"no folder {out.parent} for the export")
    member = await s.members.get(a.member)
    document = await member_export(s.store, member)
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    # The member's own data, some of it not shared with anyone: readable by its owner only.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    counts = {k: len(v) for k, v in document.items() if isinstance(v, list) and k != "groups"}
    return {"member": member.id, "file": str(out), "counts": counts}, (
        f"exported {member.name} ({member.id}) to {out}: "
        + ", ".join(f"{n} {k}" for k, n in counts.items())
    )


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


def _require_database(settings: Settings) -> None:
    """Admin commands work on an existing exchange: a mistyped --db must not make a new one."""
    if settings.db.startswith("sqlite:///"):
        from exchange.store.sqlite import sqlite_path

        path = sqlite_path(settings.db)
        if not Path(path).is_file():
            raise InvalidInput(
                f"no database {path}: check --db, or create it with "
                f"`exchange admin migrate --db {settings.db}`"
            )


# Admin commands that only read are not audited; every other one is, done or refused.
READ_ONLY_COMMANDS: frozenset[AdminCommand] = frozenset(
    {
        member_list,
        member_show,
        token_list,
        key_list,
        key_show,
        group_list,
        rules_list,
        explain_cmd,
        deliveries_cmd,
        check_cmd,
        log_key_show,
        audit_cmd,
        sealed_list,
        review_list,
        peer_list,
        peer_show,
    }
)
# What an audit entry names as the command's target: what the command made or changed (the
# id it printed), else the first of these arguments, else a group's name; and the arguments
# it keeps (none of them secret: tokens and private keys are never arguments).
AUDIT_TARGETS = (
    "member",
    "token_id",
    "key_id",
    "rule_id",
    "object_id",
    "sealed_id",
    "review_id",
)
AUDIT_DETAILS = (
    "name",
    "kind",
    "share",
    "url",
    "sector",
    "economy",
    "ttl",
    "read_only",
    "since",
    "direction",
    "effect",
    "field",
    "values",
    "public_key",
    "out",
    "reason",
    "dry_run",
)


def admin_actor() -> str:
    """Who runs the CLI, as the audit log names them."""
    try:
        return f"admin:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (a container without one)
        return f"admin:uid-{os.getuid()}"


def audit_entry(
    args: argparse.Namespace,
    outcome: AuditOutcome,
    reason: str | None,
    made: dict[str, Any] | None = None,
) -> AuditEntry:
    """The entry for one admin command; ``made`` is what it printed (only ids are taken
    from it, never a token's secret)."""
    action = " ".join(str(getattr(args, d)) for d in ("area", "action") if getattr(args, d, None))
    target = next((str(v) for d in AUDIT_TARGETS if (v := getattr(args, d, None))), None)
    made = made or {}
    created = made.get("token_id") or made.get("key_id") or made.get("id")
    target = (str(created) if created else None) or target or getattr(args, "name", None)
    details: dict[str, str] = {}
    for name in AUDIT_DETAILS:
        value = getattr(args, name, None)
        if value not in (None, False) and str(value) != target:
            details[name] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    member = getattr(args, "member", None) or made.get("member")
    if member is None and action == "member add":
        member = made.get("id")
    return AuditEntry(
        at=format_ts(now()),
        actor=admin_actor(),
        action=action,
        target=target,
        member=str(member) if member else None,
        outcome=outcome,
        reason=reason,
        details=details,
    )


async def _run_admin(settings: Settings, command: AdminCommand, args: argparse.Namespace) -> None:
    if command is not migrate_cmd:
        _require_database(settings)
    services = await open_services(settings)
    audited = command not in READ_ONLY_COMMANDS
    try:
        try:
            if getattr(args, "member", None) is not None:
                # MEMBER: an id, an identity or a unique name; the commands get the id.
                member = await services.members.resolve(args.member)
                args.member, args.member_name = member.id, member.name
            payload, human = await command(services, args)
        except ExchangeError as exc:
            if audited:
                entry = audit_entry(args, AuditOutcome.REFUSED, exc.message)
                await services.store.audit.record_audit([entry])
            raise
        if audited:
            entry = audit_entry(args, AuditOutcome.DONE, None, payload)
            await services.store.audit.record_audit([entry])
    finally:
        await services.ledger.stop()
        await services.store.close()
    _emit(args, payload, human)


# --- client commands ---------------------------------------------------------------------------


TOKEN_ENV = "EXCHANGE_TOKEN"


def api_token(args: argparse.Namespace) -> str:
    """The API token: --token, else the first line of --token-file, else $EXCHANGE_TOKEN."""
    if args.token:
        return str(args.token)
    if args.token_file:
        try:
            text = Path(args.token_file).read_text("utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.token_file}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{args.token_file} is not UTF-8 text") from exc
        token = text.strip()
        if not token or len(token.splitlines()) != 1:
            raise InvalidInput(f"{args.token_file} must hold the API token on one line")
        return token
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    raise UsageError(
        f"exchange {args.command}: give the API token in ${TOKEN_ENV}, "
        "with --token-file FILE or with --token"
    )


def completion_cmd(args: argparse.Namespace) -> int:
    import shtab

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0


def publish_cmd(args: argparse.Namespace) -> int:
    from exchange.client.bulletin import is_bulletin
    from exchange.client.bulletin import publish_cmd as publish_bulletin
    from exchange.client.publish import publish_file

    if args.dry_run or is_bulletin(args.file):  # a Markdown bulletin (docs/bulletins.md)
        args.token = api_token(args)  # from --token-file or $EXCHANGE_TOKEN as well
        return publish_bulletin(args)

    status, ok = publish_file(
        args.file,
        args.url,
        api_token(args),
        args.key,
        progress=not args.json and not args.quiet,
        anonymous=args.anonymous,
        relay=args.relay,
    )
    human = (
        f"{status.get('success_count', 0)} stored, {status.get('failure_count', 0)} refused"
        + "".join(f"\n  {f['id']}: {f['message']}" for f in status.get("failures", []))
        + "".join(f"\n  {p['id']}: {p['message']}" for p in status.get("pendings", []))
    )
    if args.json:
        sys.stdout.write(json.dumps(status) + "\n")
    else:
        sys.stdout.write(human + "\n")
    return 0 if ok else 1


def verify_log_cmd(args: argparse.Namespace) -> int:
    from exchange.client import load_objects

    if args.proof_dir and not args.file:
        raise UsageError("exchange verify: --proof-dir needs FILE, whose objects it proves")
    from exchange.client.translog import verify_log
    from exchange.client.verify import verify_file
    from exchange.crypto import SigningKey

    key = None
    if args.key:
        try:
            key = SigningKey.from_pem(Path(args.key).read_bytes())
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.key}: {exc.strerror}") from exc
    objects = load_objects(args.file) if args.file else []
    token = api_token(args)
    signatures = verify_file(args.file, args.url, token) if args.file else None
    check = verify_log(
        args.url,
        token,
        state=Path(args.state) if args.state else None,
        objects=objects,
        own_key=key,
        cosign=args.cosign,
        witnesses=args.witnesses,
        proof_dir=Path(args.proof_dir) if args.proof_dir else None,
    )
    payload = check.to_json()
    if signatures is not None:
        payload.update(signatures)
        payload["problems"] += [
            f"bad signature: {r['id']}: {r['reason']}" for r in signatures["invalid"]
        ]
    if args.json:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        lines = [
            f"log tree size {payload['tree_size']}, "
            + ("consistent with the head kept" if check.consistent else "NOT CONSISTENT")
        ]
        lines += [f"included {i}" for i in payload["included"]]
        lines += [f"cosigned by {c['member']}" for c in payload["cosignatures"]]
        lines += [f"PROBLEM  {p}" for p in payload["problems"]]
        if check.cosigned:
            lines.append("your cosignature was posted")
        if check.proofs is not None:
            lines.append(f"{len(check.proofs)} tlog-proof files in {args.proof_dir}")
        sys.stdout.write("\n".join(lines) + "\n")
    if check.alarms:
        sys.stderr.write(
            f"exchange: ALERT: {check.alarms[0]}"
            + (f" (and {len(check.alarms) - 1} more)" if len(check.alarms) > 1 else "")
            + "\n"
        )
    return 1 if payload["problems"] else 0


def verify_cmd(args: argparse.Namespace) -> int:
    from exchange.client.verify import verify_file

    if args.log:
        return verify_log_cmd(args)
    for flag, given in (
        ("--state", args.state),
        ("--cosign", args.cosign),
        ("--witnesses", args.witnesses),
        ("--key", args.key),
        ("--proof-dir", args.proof_dir),
    ):
        if given:
            raise UsageError(f"exchange verify: {flag} needs --log")
    if not args.file:
        raise UsageError("exchange verify: give FILE, or --log to check the transparency log")
    result = verify_file(args.file, args.url, api_token(args))
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


SERVE_SETTINGS = (
    "header_timeout_seconds",
    "body_timeout_seconds",
    "idle_timeout_seconds",
    "max_connections_per_address",
    "metrics_host",
    "metrics_port",
    "validator",
    "tls_cert",
    "tls_key",
)


def build_parser() -> Parser:
    common = Parser(add_help=False)
    # SUPPRESS: a subcommand that is not given --db must not erase one given before it.
    common.add_argument(
        "--db",
        default=argparse.SUPPRESS,
        help=f"database URL (else $EXCHANGE_DB, else {DEFAULT_DB})",
    )
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="TOML settings file (else $EXCHANGE_CONFIG)"
    )
    out = Parser(add_help=False)
    out.add_argument("--json", action="store_true", help="print exactly one JSON object")

    parser = Parser(
        prog="exchange",
        description="The exchange: signed STIX 2.1 bulletins over TAXII 2.1",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"exchange {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    serve = sub.add_parser("serve", help="serve the TAXII API", parents=[common])
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="worker processes on one port")
    serve.add_argument(
        "--header-timeout",
        type=float,
        dest="header_timeout_seconds",
        help="seconds for a request's headers (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        type=float,
        dest="body_timeout_seconds",
        help="seconds for a request's body (default 60)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        dest="idle_timeout_seconds",
        help="seconds a keep-alive connection may stay idle (default 75)",
    )
    serve.add_argument(
        "--max-connections-per-address",
        type=int,
        dest="max_connections_per_address",
        help="open connections per client address, 0 for no cap (default 256)",
    )
    serve.add_argument("--metrics-host", help="address of the metrics listener")
    serve.add_argument("--metrics-port", type=int, help="serve /metrics on this port only")
    serve.add_argument(
        "--validator",
        choices=["fast", "stix2-validator"],
        help="STIX validation: the exchange's own (fast, the default) or stix2-validator itself",
    )
    serve.add_argument(
        "--tls-cert", metavar="FILE", help="serve HTTPS (TLS 1.2+) with this PEM certificate chain"
    )
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert")

    admin = sub.add_parser(
        "admin", help="administer members, tokens, keys, groups and rules", parents=[common]
    )
    asub = admin.add_subparsers(dest="area", required=True, parser_class=Parser)

    def leaf(parent: Any, name: str, handler: AdminCommand, help_text: str) -> Parser:
        p: Parser = parent.add_parser(name, help=help_text, parents=[common, out])
        p.set_defaults(handler=handler)
        return p

    member = asub.add_parser("member", help="members").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = leaf(member, "add", member_add, "register a member and its STIX identity")
    p.add_argument("--name", required=True)
    p.add_argument("--kind", required=True, choices=["government", "private", "exchange"])
    p.add_argument(
        "--share",
        choices=["clear", "green"],
        help="a peer exchange (--kind exchange): read TLP:CLEAR only (default), or GREEN too",
    )
    p.add_argument(
        "--sector",
        required=True,
        help="a STIX 2.1 industry-sector-ov value, e.g. government, financial-services",
    )
    p.add_argument("--economy", required=True, help="ISO 3166-1 alpha-2 code")
    p.add_argument(
        "--if-absent",
        action="store_true",
        help="a member of that name and kind, sector and economy exists already: "
        "print it and succeed (re-runnable scripts)",
    )
    leaf(member, "list", member_list, "list members")
    for name, fn, text in (
        ("show", member_show, "show a member"),
        ("suspend", member_suspend, "suspend a member"),
        ("reinstate", member_reinstate, "reinstate a suspended member"),
    ):
        leaf(member, name, fn, text).add_argument("member", metavar="MEMBER")

    peer = asub.add_parser("peer", help="peer exchanges pulled from").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = leaf(peer, "add", peer_add, "pull from a peer exchange over TAXII 2.1 from now on")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--url", required=True, help="the peer's API root URL")
    p.add_argument("--token", required=True, help="the read-only token the peer issued")
    leaf(peer, "list", peer_list, "list peer exchanges")
    for name, fn, text in (
        ("show", peer_show, "show a peer: what was imported, the cursor, problems"),
        ("remove", peer_remove, "stop pulling from a peer (what it sent stays)"),
    ):
        leaf(peer, name, fn, text).add_argument("name", metavar="NAME")

    token = asub.add_parser("token", help="API tokens").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = leaf(token, "issue", token_issue, "issue an API token (shown once)")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument(
        "--ttl",
        default="90d",
        help=f"lifetime like 90d, 12h, 30m or 2w, {DURATION_RANGE}; 'never' for none (default 90d)",
    )
    p.add_argument("--read-only", action="store_true")
    leaf(token, "revoke", token_revoke, "revoke a token now").add_argument("token_id")
    leaf(
        token, "list", token_list, "list tokens: ids, scope, expiry, last use (never the token)"
    ).add_argument("member", nargs="?", metavar="MEMBER")

    key = asub.add_parser("key", help="signing keys").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = leaf(key, "generate", key_generate, "make an Ed25519 key pair for a member")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--out", required=True, help="private key file (PEM, mode 0600)")
    p.add_argument("--ttl", help=f"validity like 730d or 52w, {DURATION_RANGE} (default 730d)")
    p = leaf(key, "add", key_add, "register a member's existing public key")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--public-key", required=True)
    p.add_argument("--ttl", help=f"validity like 730d or 52w, {DURATION_RANGE} (default 730d)")
    p = leaf(key, "revoke", key_revoke, "revoke a key for objects modified at or after --since")
    p.add_argument("key_id")
    p.add_argument("--since", help="timestamp, default now")
    p = leaf(key, "list", key_list, "list keys")
    p.add_argument("member", nargs="?", metavar="MEMBER")
    p.add_argument("--expiring", type=int, metavar="DAYS", help="only keys lapsing within DAYS")
    leaf(key, "show", key_show, "show a key (and its public half)").add_argument("key_id")

    group = asub.add_parser("group", help="sharing groups").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    leaf(group, "create", group_create, "create a sharing group").add_argument("name")
    p = leaf(group, "add", group_add, "add a member to a group")
    p.add_argument("name")
    p.add_argument("member", metavar="MEMBER")
    leaf(group, "list", group_list, "list groups")

    rules = asub.add_parser("rules", help="standing rules").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    p = leaf(
        rules,
        "outbound",
        rules_add,
        "narrow everything MEMBER publishes: require or deny audience entries",
    )
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("effect", choices=["require", "deny"])
    p.add_argument(
        "values",
        nargs="+",
        metavar="ENTRY",
        help="member:identity--…, group:G, sector:S, economy:CC, kind:K",
    )
    p.set_defaults(direction="outbound")
    p = leaf(rules, "inbound", rules_add, "filter what MEMBER reads")
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("field", choices=["type", "tlp", "publisher", "sector"])
    p.add_argument("values", nargs="+", metavar="VALUE")
    p.set_defaults(direction="inbound")
    p = leaf(
        rules,
        "submission",
        rules_add,
        "how MEMBER's posts are taken: anonymous (anonymous unless a post says --named) or "
        "review (personal data found goes to the review queue instead of being refused)",
    )
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("effect", choices=["anonymous", "review"])
    p.set_defaults(direction="submission")
    leaf(rules, "list", rules_list, "list rules").add_argument(
        "member", nargs="?", metavar="MEMBER"
    )
    leaf(rules, "remove", rules_remove, "remove a rule").add_argument("rule_id")

    log_key = asub.add_parser("log-key", help="the transparency log's signing key").add_subparsers(
        dest="action", required=True, parser_class=Parser
    )
    leaf(log_key, "show", log_key_show, "show the log key and the retired ones")
    leaf(log_key, "rotate", log_key_rotate, "retire the log key and sign with a new one")

    p = leaf(
        asub,
        "explain",
        explain_cmd,
        "may MEMBER read OBJECT_ID, and which rule decides; without OBJECT_ID, a summary "
        "of what MEMBER reads (counts by TLP and publisher, rules in force)",
    )
    p.add_argument("object_id", nargs="?", metavar="OBJECT_ID")
    p.add_argument("member", metavar="MEMBER")
    leaf(asub, "deliveries", deliveries_cmd, "who received an object").add_argument("object_id")
    sealed = asub.add_parser(
        "sealed", help="sealed anonymous submissions (docs/privacy.md)"
    ).add_subparsers(dest="action", required=True, parser_class=Parser)
    leaf(sealed, "list", sealed_list, "list sealed records (without their authors)")
    p = leaf(
        sealed,
        "open",
        sealed_open,
        "show who submitted a sealed record (its id, or the anonymous copy's object id) "
        "and the original; every opening is in the audit log",
    )
    p.add_argument("sealed_id", metavar="ID")
    p.add_argument("--reason", required=True, help="why it is opened (kept in the audit log)")
    p = leaf(
        sealed,
        "release",
        sealed_release,
        "publish the anonymous copies whose release time has come (the server does so "
        "by itself every anonymous_release_seconds)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="every pending copy, whatever its release time (it shortens their timing cover)",
    )
    review = asub.add_parser(
        "review", help="objects PII screening held for review (docs/privacy.md)"
    ).add_subparsers(dest="action", required=True, parser_class=Parser)
    p = leaf(review, "list", review_list, "list the objects waiting for review")
    p.add_argument("--member", metavar="MEMBER", help="only MEMBER's objects")
    p.add_argument("--all", action="store_true", help="decided ones too")
    leaf(
        review, "approve", review_decide, "store the object as posted (its status says so)"
    ).add_argument("review_id")
    p = leaf(review, "reject", review_decide, "refuse the object (its status says why)")
    p.add_argument("review_id")
    p.add_argument("--reason", help="told to the member in the post's status")
    p = leaf(
        asub,
        "purge",
        purge_cmd,
        "remove what is past its retention period (docs/privacy.md); the server does so daily",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be purged, purge none")
    p = leaf(
        asub,
        "export",
        export_cmd,
        "write everything the exchange holds from and about MEMBER to one JSON file "
        "(an access request; no secrets)",
    )
    p.add_argument("member", metavar="MEMBER")
    p.add_argument("--out", required=True, help="the JSON file to write (mode 0600)")
    leaf(asub, "migrate", migrate_cmd, "bring the database schema up to date")
    p = leaf(
        asub,
        "audit",
        audit_cmd,
        "the audit log: every admin action and refused request, oldest first",
    )
    p.add_argument("--since", help="a timestamp, or a duration back from now (24h, 7d)")
    p.add_argument("--member", metavar="MEMBER", help="only entries about MEMBER")
    p.add_argument("--limit", type=int, help="at most this many entries")
    leaf(
        asub,
        "check",
        check_cmd,
        "check the database: its own integrity check and the "
        "exchange's consistency queries (exit 1 on any problem)",
    )
    for name, store_fn, text in (
        ("backup", backup_cmd, "write a consistent backup of the database to FILE (online)"),
        ("restore", restore_cmd, "load a backup FILE into a new, empty database"),
    ):
        p = asub.add_parser(name, help=text, parents=[common, out])
        p.set_defaults(store_handler=store_fn)
        p.add_argument("file", metavar="FILE", help="gzip'd JSON lines (see docs/deploy.md)")

    for name, client, text in (
        ("publish", publish_cmd, "sign and post a STIX bundle or envelope"),
        ("verify", verify_cmd, "check every object's signature"),
    ):
        # --db is accepted for uniformity; the client talks to the API, not the database.
        p = sub.add_parser(name, help=text, parents=[common, out])
        p.add_argument("file", nargs="?" if name == "verify" else None)
        p.add_argument(
            "--url", required=True, help="API root URL, e.g. http://127.0.0.1:8080/api/v1/"
        )
        tokens = p.add_mutually_exclusive_group()
        tokens.add_argument(
            "--token",
            help="API token (visible in ps and shell history: "
            "prefer $EXCHANGE_TOKEN or --token-file)",
        )
        tokens.add_argument(
            "--token-file", metavar="FILE", help="file holding the API token (else $EXCHANGE_TOKEN)"
        )
        if name == "publish":
            p.add_argument("--key", required=True, help="your private key (PEM)")
            p.add_argument("--quiet", action="store_true", help="no progress bar")
            p.add_argument(
                "--relay",
                action="store_true",
                help="the key is another member's: post its objects as a relay "
                "(else a key that is not the token's member's is refused)",
            )
            p.add_argument(
                "--dry-run",
                action="store_true",
                help="print the signed STIX bundle instead of posting it",
            )
            naming = p.add_mutually_exclusive_group()
            naming.add_argument(
                "--anonymous",
                action="store_const",
                const=True,
                default=None,
                help="publish anonymously: the exchange seals your objects and publishes "
                "copies under its anonymous source (docs/privacy.md)",
            )
            naming.add_argument(
                "--named",
                dest="anonymous",
                action="store_const",
                const=False,
                help="publish under your name even if your standing rules make anonymity "
                "your default",
            )
        else:
            p.add_argument(
                "--log",
                action="store_true",
                help="check the transparency log (and FILE's objects in it)",
            )
            p.add_argument("--state", help="file keeping the last head checked (--log)")
            p.add_argument(
                "--cosign",
                action="store_true",
                help="cosign the head once every check holds (needs --key)",
            )
            p.add_argument(
                "--key",
                help="your private key (PEM): --cosign signs with it, and "
                "your own cosignatures never count as witnesses",
            )
            p.add_argument(
                "--witnesses",
                type=int,
                default=0,
                metavar="K",
                help="require K cosignatures by other members (--log)",
            )
            p.add_argument(
                "--proof-dir",
                metavar="DIR",
                help="write a C2SP tlog-proof for each of FILE's objects (--log)",
            )
        p.set_defaults(client=client)

    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=["bash", "zsh"])
    p.set_defaults(client=completion_cmd)
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
        return _dispatch(args)
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "client", None) is not None:
            if getattr(args, "cosign", False) and not args.key:
                raise UsageError("exchange verify: --cosign needs --key FILE.pem")
            if getattr(args, "witnesses", 0) < 0:
                raise UsageError("exchange verify: --witnesses takes a count, 0 or more")
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
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
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
