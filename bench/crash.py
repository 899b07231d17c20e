"""SIGKILL during concurrent ingest, by the dozen: the long version of
``tests/api/test_crash_ingest.py``.

    .venv/bin/python bench/crash.py [--kills 20] [--store sqlite|postgres] [--posters 3]

Registers members, then again and again starts ``exchange serve``, lets posters post signed
envelopes, and kills the server with SIGKILL at a random moment mid-ingest; after every kill
it runs ``exchange admin check``. At the end it reads everything back and checks that every
acknowledged object is served byte for byte and verifies. Prints ``kills N, acknowledged A,
lost L, check problems P`` and exits 1 unless L and P are 0. PostgreSQL runs on a fresh
schema of ``$EXCHANGE_TEST_PG_DSN``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exchange.crypto import verify_object_signature
from tests.api.test_crash_ingest import Posters, served
from tests.api.test_durability import serve
from tests.conftest import cli_json, free_port, register_member
from tests.store.test_notify_pg import fresh_pg_schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--posters", type=int, default=3)
    args = parser.parse_args()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.store == "postgres":
            os.environ.setdefault(
                "EXCHANGE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test"
            )
            db = stack.enter_context(fresh_pg_schema())
        else:
            db = f"sqlite:///{folder / 'exchange.db'}"
            cli_json("admin", "migrate", "--db", db)
        members = [register_member(db, folder, f"crash-{n}") for n in range(args.posters)]
        port = free_port()
        acknowledged: dict[str, dict[str, Any]] = {}
        problems = 0
        for kill in range(args.kills):
            with serve(db, port) as proc, Posters(port, members) as posters:
                deadline = time.monotonic() + 60
                while not posters.acknowledged and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(random.uniform(0.1, 1.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            acknowledged.update(posters.acknowledged)
            check = cli_json("admin", "check", "--db", db)
            problems += len(check["problems"])
            print(
                f"kill {kill + 1}: acknowledged {len(acknowledged)}, problems {problems}",
                flush=True,
            )
        with serve(db, port):
            stored = served(port, members[0].token)
        keys = {m.identity: m.key.public for m in members}
        lost = [i for i in acknowledged if i not in stored]
        for stix_id, obj in acknowledged.items():
            if stix_id in stored:
                assert stored[stix_id] == obj, f"{stix_id}: other bytes served"
                verify_object_signature(stored[stix_id], keys[obj["created_by_ref"]])
        print(
            f"kills {args.kills}, acknowledged {len(acknowledged)}, lost {len(lost)}, "
            f"check problems {problems}"
        )
        return 0 if not lost and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
