"""Signed ingest end to end, before and after, in one run: bench/load.py (SQLite, signed
indicators with audiences, the realistic TLP mix) run alternately on

- ``before``: another checkout (``--before DIR``, e.g. ``git archive main | tar -x -C DIR``),
- ``after, stix2-validator``: this checkout with ``EXCHANGE_VALIDATOR=stix2-validator``,
- ``after``: this checkout (the fast validator),

and, in the same run, one core's bare JCS + Ed25519 verify rate (the issue's yardstick).
Prints a JSON line per load run, then one with the medians and their ratios.

    .venv/bin/python bench/ingest_compare.py --before /tmp/before [--objects 5000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from exchange.crypto import SigningKey, sign_object, verify_object_signature

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent


def bare_verify_rate(count: int = 2000) -> float:
    """Objects per second one core verifies (JCS + Ed25519), signed indicators."""
    key = SigningKey.generate()
    objects = [
        sign_object(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{uuid.uuid4()}",
                "created": "2025-01-01T00:00:00.000Z",
                "modified": "2025-01-01T00:00:00.000Z",
                "pattern": f"[ipv4-addr:value = '198.51.{n % 256}.7']",
                "pattern_type": "stix",
                "valid_from": "2025-01-01T00:00:00.000Z",
                "created_by_ref": "identity--2f1a3b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"],
            },
            key,
        )
        for n in range(count)
    ]
    public = key.public
    t0 = time.process_time()
    for obj in objects:
        verify_object_signature(obj, public)
    return count / (time.process_time() - t0)


def load_run(
    name: str, code: Path, env_extra: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    # On the shared 2 cores a posting connection can wait more than the default 10 s for the
    # server to read its headers while envelopes are validated; that is the guard against
    # slow clients doing its job, not what this bench measures.
    env = dict(
        os.environ,
        PYTHONPATH=str(code),
        EXCHANGE_HEADER_TIMEOUT_SECONDS="300",
        EXCHANGE_BODY_TIMEOUT_SECONDS="300",
        EXCHANGE_IDLE_TIMEOUT_SECONDS="300",
        **env_extra,
    )
    cmd = [
        sys.executable,
        str(HERE / "load.py"),
        "--objects",
        str(args.objects),
        "--signed",
        "--audiences",
        "--readers",
        "4",
        "--requests",
        "8",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"bench: {name} failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    ingest = summary["results"]["ingest"]
    row = {
        "run": name,
        "objects_per_s": ingest["objects_per_s"],
        "server_cpu_ms_per_object": ingest["server_cpu_ms_per_object"],
        "stored": ingest["stored"],
        "refused": ingest["refused"],
        "loadavg": os.getloadavg()[0],
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="a checkout of the code to compare against")
    p.add_argument("--objects", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    variants = [
        ("before", Path(args.before).resolve(), {}),
        ("after, stix2-validator", CHECKOUT, {"EXCHANGE_VALIDATOR": "stix2-validator"}),
        ("after", CHECKOUT, {}),
    ]
    rows: list[dict[str, Any]] = []
    bare: list[float] = []
    for _ in range(args.rounds):
        bare.append(bare_verify_rate())
        for name, code, env in variants:
            rows.append(load_run(name, code, env, args))
    summary: dict[str, Any] = {"bare_verify_objects_per_s_one_core": round(max(bare), 1)}
    for name, _code, _env in variants:
        mine = [r for r in rows if r["run"] == name]
        summary[name] = {
            "objects_per_s": statistics.median(r["objects_per_s"] for r in mine),
            "server_cpu_ms_per_object": statistics.median(
                r["server_cpu_ms_per_object"] for r in mine
            ),
        }
    before, after = summary["before"], summary["after"]
    summary["ratio_after_to_before_objects_per_s"] = round(
        after["objects_per_s"] / before["objects_per_s"], 2
    )
    summary["ratio_before_to_after_cpu_per_object"] = round(
        before["server_cpu_ms_per_object"] / after["server_cpu_ms_per_object"], 2
    )
    summary["ratio_after_to_bare_verify"] = round(
        after["objects_per_s"] / summary["bare_verify_objects_per_s_one_core"], 2
    )
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
