"""Sharing-policy worlds by the thousand: the model-based test's worlds, many more of them.

    .venv/bin/python bench/policy_worlds.py [--worlds 10000] [--store sqlite|postgres|both]
                                            [--seed N] [--max-seconds S]

Each world (``tests/unit/test_policy_model.py``: members, groups, standing rules, posts of
markings, objects, versions, relationships, sightings, relays, deletes, marking changes, a key
revocation ``--since``, a suspension) runs through the real publish pipeline on a fresh
database and has every read path and ``explain`` compared with the reference model written
from ``docs/sharing.md``. A disagreement is counted and its first lines printed, and the run
goes on. PostgreSQL worlds use a fresh schema on ``$EXCHANGE_TEST_PG_DSN``.

Prints ``tried N, disagreed D`` per store and exits 1 when any world disagreed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.test_policy_model import Plan, plans, run_world


def run(store: str, worlds: int, seed_value: int, deadline: float) -> tuple[int, int]:
    tried = disagreed = 0

    @seed(seed_value)
    @settings(
        max_examples=worlds,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(plans())
    def world(plan: Plan) -> None:
        nonlocal tried, disagreed
        if time.monotonic() > deadline:
            return
        tried += 1
        try:
            run_world(plan, store)
        except AssertionError:
            disagreed += 1
            print(f"{store}: world {tried} disagreed:", file=sys.stderr)
            print("".join(traceback.format_exc().splitlines(keepends=True)[-6:]), file=sys.stderr)
        if tried % 500 == 0:
            print(f"{store}: {tried} worlds, {disagreed} disagreed", file=sys.stderr)

    world()
    return tried, disagreed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=10_000)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=6 * 3600)
    args = parser.parse_args()
    if args.store != "sqlite" and not os.environ.get("EXCHANGE_TEST_PG_DSN"):
        parser.error("PostgreSQL worlds need EXCHANGE_TEST_PG_DSN")
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    failed = False
    for store in stores:
        started = time.monotonic()
        tried, disagreed = run(store, args.worlds, args.seed, started + args.max_seconds)
        print(f"{store}: tried {tried}, disagreed {disagreed} ({time.monotonic() - started:.0f} s)")
        failed = failed or disagreed > 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
