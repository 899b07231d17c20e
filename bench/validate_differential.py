"""The differential test of the fast STIX validator, longer: many more generated patterns and
objects than tests/unit/test_stix_differential.py runs, plus the corpora. Prints one JSON
line per part: tried, judged by the fast validator itself (the rest it hands to
stix2-validator), disagreed, and the first few disagreements.

    .venv/bin/python bench/validate_differential.py [--patterns 5000] [--objects 3000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.stix.validate import structure_error
from tests import stix_generators as gen


def run(
    name: str, count: int, strategy: st.SearchStrategy[Any], judge: Callable[[Any], Any]
) -> dict[str, Any]:
    tally: dict[str, Any] = {"part": name, "tried": 0, "judged": 0, "disagreed": 0, "examples": []}
    started = time.monotonic()

    @settings(
        max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def body(item: Any) -> None:
        outcome = judge(item)
        if outcome is None:
            return
        tally["tried"] += 1
        judged, agrees = outcome
        tally["judged"] += judged
        if not agrees:
            tally["disagreed"] += 1
            if len(tally["examples"]) < 5:
                tally["examples"].append(item)

    body()
    tally["seconds"] = round(time.monotonic() - started, 1)
    return tally


def judge_pattern(text: str) -> tuple[bool, bool]:
    fast = gen.fast_pattern_ok(text)
    return fast is not None, fast is None or fast == gen.reference_pattern_ok(text)


def judge_object(value: dict[str, Any]) -> tuple[bool, bool] | None:
    if structure_error(value) is not None:
        return None  # the publish pipeline refuses it before validation
    fast = gen.fast_accepts(value)
    return fast is not None, fast is None or fast == gen.reference_accepts(value)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--patterns", type=int, default=5000)
    p.add_argument("--objects", type=int, default=3000)
    args = p.parse_args()
    corpus = gen.corpus_objects()
    results = [
        run("corpus objects", len(corpus), st.sampled_from(corpus), judge_object),
        run("corpus patterns", 400, st.sampled_from(gen.corpus_patterns()), judge_pattern),
        run("generated patterns", args.patterns, gen.patterns(), judge_pattern),
        run("generated objects", args.objects, gen.objects(corpus), judge_object),
    ]
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 1 if any(r["disagreed"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
