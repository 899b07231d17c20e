"""Write the upgrade fixtures of one release: a database that release wrote, on both stores.

    git worktree add /tmp/v0.1.0 v0.1.0
    PYTHONPATH=/tmp/v0.1.0 .venv/bin/python bench/make_upgrade_fixture.py \\
        --release v0.1.0 --out tests/assets/upgrade

Run it with ``PYTHONPATH`` pointing at a checkout of the release, so that the release's own
code (its CLI and its server, driven through their public interfaces only) writes the data:
members of each kind, a group, outbound and inbound rules, keys (one revoked), tokens, and
posted objects of every kind the exchange takes (CLEAR/GREEN/AMBER/RED, an audience marking,
versions, a relationship, a sighting, a report, a note, a deleted object). It leaves

- ``RELEASE.sqlite``: the SQLite database file;
- ``RELEASE.pg.sql``: a plain ``pg_dump`` of a PostgreSQL schema the release wrote (schema
  name ``upgrade_fixture``; the test loads it under a fresh name);
- ``RELEASE.json``: what must survive: every stored object version (id, version, SHA-256 of
  its bytes), the members, and one token per member (fixture-only secrets).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

TLP = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
AUDIENCE_EXT = "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"
# Run from "/", so that ``python -m`` does not put this checkout first on sys.path.
EXE = [sys.executable, "-m", "exchange"]


def cli(db: str, *argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [*EXE, "--db", db, *argv, "--json"], capture_output=True, text=True, check=False, cwd="/"
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: {done.stderr.strip()}")
    return dict(json.loads(done.stdout))


def ts(delta: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sdo(kind: str, tlp: str, **props: Any) -> dict[str, Any]:
    stamp = ts()
    obj: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.uuid4()}",
        "created": stamp,
        "modified": stamp,
        "object_marking_refs": [TLP[tlp]],
        **props,
    }
    return obj


def indicator(tlp: str, **props: Any) -> dict[str, Any]:
    return sdo(
        "indicator",
        tlp,
        name="upgrade fixture",
        pattern_type="stix",
        pattern=f"[ipv4-addr:value = '198.51.100.{secrets.randbelow(250)}']",
        valid_from=ts(),
        **props,
    )


def populate(db: str, work: Path) -> dict[str, Any]:
    cli(db, "admin", "migrate")
    made = {}
    for name, kind, sector, economy in (
        ("cert-a", "government", "government", "DE"),
        ("bank-b", "private", "financial-services", "FR"),
        ("grid-c", "private", "energy", "NL"),
    ):
        m = cli(
            db,
            "admin",
            "member",
            "add",
            "--name",
            name,
            "--kind",
            kind,
            "--sector",
            sector,
            "--economy",
            economy,
        )
        token = cli(db, "admin", "token", "issue", m["id"])["token"]
        key = work / f"{name}.pem"
        cli(db, "admin", "key", "generate", m["id"], "--out", str(key))
        made[name] = {"id": m["id"], "identity": m["identity"], "token": token, "key": str(key)}
    a, b, c = made["cert-a"], made["bank-b"], made["grid-c"]
    cli(db, "admin", "group", "create", "grid")
    cli(db, "admin", "group", "add", "grid", c["id"])
    cli(db, "admin", "rules", "outbound", b["id"], "deny", "economy:US")
    cli(
        db,
        "admin",
        "rules",
        "inbound",
        c["id"],
        "type",
        "indicator",
        "report",
        "relationship",
        "marking-definition",
        "note",
        "sighting",
        "identity",
    )
    spare = work / "spare.pem"
    revoked = cli(db, "admin", "key", "generate", a["id"], "--out", str(spare))
    cli(db, "admin", "key", "revoke", revoked["key_id"])

    port = 18000 + secrets.randbelow(2000)
    server = subprocess.Popen(
        [*EXE, "--db", db, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    url = f"http://127.0.0.1:{port}/api/v1/"
    try:
        for _ in range(300):
            try:
                if requests.get(url.replace("/api/v1/", "/taxii2/"), timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)

        def publish(member: dict[str, Any], objects: list[dict[str, Any]]) -> None:
            bundle = work / f"bundle-{uuid.uuid4()}.json"
            for o in objects:
                o.setdefault("created_by_ref", member["identity"])
            bundle.write_text(
                json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
            )
            done = subprocess.run(
                [
                    *EXE,
                    "publish",
                    str(bundle),
                    "--url",
                    url,
                    "--token",
                    member["token"],
                    "--key",
                    member["key"],
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=False,
                cwd="/",
            )
            status = json.loads(done.stdout) if done.stdout.strip() else {}
            if status.get("failure_count"):
                raise SystemExit(f"fixture post refused: {status.get('failures')}")

        marking = {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}",
            "created": ts(),
            "extensions": {
                AUDIENCE_EXT: {
                    "extension_type": "property-extension",
                    "audience": ["group:grid", "sector:energy"],
                }
            },
        }
        red = {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": f"marking-definition--{uuid.uuid4()}",
            "created": ts(),
            "extensions": {
                AUDIENCE_EXT: {
                    "extension_type": "property-extension",
                    "audience": [f"member:{b['identity']}"],
                }
            },
        }
        clear = indicator("clear")
        green = indicator("green")
        amber = indicator("amber")
        amber["object_marking_refs"].append(marking["id"])
        rouge = indicator("red")
        rouge["object_marking_refs"].append(red["id"])
        report = sdo(
            "report",
            "clear",
            name="Fixture bulletin",
            published=ts(),
            report_types=["threat-report"],
            object_refs=[clear["id"]],
        )
        note = sdo("note", "green", content="a note", object_refs=[green["id"]])
        publish(a, [marking, red, clear, green, amber, rouge, report, note])
        newer = dict(green, modified=ts(1), description="second version")
        newer.pop("extensions", None)
        publish(a, [newer])
        rel = sdo(
            "relationship",
            "green",
            relationship_type="indicates",
            source_ref=green["id"],
            target_ref=clear["id"],
        )
        sighting = sdo(
            "sighting", "green", sighting_of_ref=green["id"], where_sighted_refs=[b["identity"]]
        )
        publish(b, [rel, sighting, indicator("green")])
        gone = indicator("green")
        publish(c, [gone])
        deleted = requests.delete(
            f"{url}collections/bulletins/objects/{gone['id']}/",
            headers={
                "Authorization": f"Bearer {c['token']}",
                "Accept": "application/taxii+json;version=2.1",
            },
            timeout=30,
        )
        if deleted.status_code not in (200, 204):
            raise SystemExit(f"delete failed: {deleted.status_code} {deleted.text}")
    finally:
        server.terminate()
        server.wait(30)
    return made


def manifest(rows: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return sorted(
        (
            {"id": i, "version": v, "sha256": hashlib.sha256(body.encode()).hexdigest()}
            for i, v, body in rows
        ),
        key=lambda r: (r["id"], r["version"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--pg",
        default=os.environ.get("EXCHANGE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sqlite_path = args.out / f"{args.release}.sqlite"
        sqlite_path.unlink(missing_ok=True)
        (work / "sqlite").mkdir()
        (work / "pg").mkdir()
        members = populate(f"sqlite:///{sqlite_path.resolve()}", work / "sqlite")
        with sqlite3.connect(sqlite_path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            rows = conn.execute("SELECT stix_id, version, body FROM objects").fetchall()
        conn.close()
        for suffix in ("-wal", "-shm"):
            Path(str(sqlite_path) + suffix).unlink(missing_ok=True)
        schema = "upgrade_fixture"
        subprocess.run(
            [
                "psql",
                args.pg,
                "-q",
                "-c",
                f"DROP SCHEMA IF EXISTS {schema} CASCADE",
                "-c",
                f"CREATE SCHEMA {schema}",
            ],
            check=True,
        )
        try:
            pg_url = f"{args.pg}{'&' if '?' in args.pg else '?'}search_path={schema}"
            pg_members = populate(pg_url, work / "pg")
            dump = subprocess.run(
                ["pg_dump", args.pg, "--schema", schema, "--no-owner", "--no-privileges"],
                capture_output=True,
                text=True,
                check=True,
            )
            (args.out / f"{args.release}.pg.sql").write_text(dump.stdout)
            pg_rows = subprocess.run(
                [
                    "psql",
                    args.pg,
                    "-At",
                    "-c",
                    f"SELECT json_agg(json_build_array(stix_id, version, body)) FROM {schema}.objects",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            subprocess.run(
                ["psql", args.pg, "-q", "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], check=True
            )
    expected = {
        "release": args.release,
        "sqlite": {"objects": manifest(rows), "members": members},
        "postgres": {
            "objects": manifest([tuple(r) for r in json.loads(pg_rows)]),
            "members": pg_members,
        },
    }
    for store in ("sqlite", "postgres"):
        for m in expected[store]["members"].values():
            m["key"] = Path(m["key"]).name  # the private keys are not kept
    (args.out / f"{args.release}.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(
        f"{args.release}: {len(rows)} object versions (SQLite), "
        f"{len(expected['postgres']['objects'])} (PostgreSQL)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
