"""CPU cost of the publish pipeline's CPU stage (STIX validation + signature check), in one run:
stix2-validator as shipped, with the validator cache of ``exchange.stix.validate``, and the
fast validator (exchange.stix.fast); with proof on a corpus that all three give the same
verdicts.

    .venv/bin/python bench/validate_speed.py [--objects 300]

The corpus for the comparison: signed indicators, every STIX 2.1 example object shipped with
stix2-validator, and broken variants (bad pattern, bad timestamps, wrong types, missing
properties). Times are CPU time of this process (``time.process_time``), so they hold on a
shared machine.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import sys
import time
import uuid
from typing import Any

from exchange.crypto import SigningKey, sign_object
from exchange.stix import validate

AUTHOR = "identity--2f1a3b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
NOW = "2025-01-01T00:00:00.000Z"


def signed_indicator(key: SigningKey, n: int) -> dict[str, Any]:
    return sign_object(
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": NOW,
            "modified": NOW,
            "name": f"C2 {n}",
            "description": "bench",
            "pattern": f"[ipv4-addr:value = '198.51.{n % 256}.7']",
            "pattern_type": "stix",
            "valid_from": NOW,
            "indicator_types": ["malicious-activity"],
            "created_by_ref": AUTHOR,
            "object_marking_refs": [GREEN],
        },
        key,
    )


def corpus(key: SigningKey, sv: Any) -> list[dict[str, Any]]:
    out = [signed_indicator(key, n) for n in range(50)]
    examples = os.path.join(os.path.dirname(sv.__file__), "schemas-2.1", "examples")
    for path in sorted(glob.glob(examples + "/**/*.json", recursive=True)):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        objs = data.get("objects", [data]) if isinstance(data, dict) else []
        out += [o for o in objs if isinstance(o, dict) and "type" in o and "id" in o]
    base = out[0]
    broken: list[tuple[str, Any]] = [
        ("pattern", "[ipv4-addr:value = "),
        ("pattern", "[foo:bar = 'x']"),
        ("created", "yesterday"),
        ("modified", "2024-01-01T00:00:00Z"),
        ("valid_from", 5),
        ("indicator_types", []),
        ("created_by_ref", "not-an-id"),
        ("object_marking_refs", ["x"]),
        ("external_references", [{"foo": 1}]),
        ("labels", "x"),
        ("lang", "zzzzzzzz"),
        ("granular_markings", [{"selectors": ["nope"], "marking_ref": GREEN}]),
    ]
    for name, value in broken:
        variant = copy.deepcopy(base)
        variant[name] = value
        out.append(variant)
    for name in ("pattern", "valid_from", "created", "pattern_type"):
        variant = copy.deepcopy(base)
        del variant[name]
        out.append(variant)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=300, help="signed indicators to time (<=5000)")
    args = p.parse_args()
    count = max(10, min(args.objects, 5000))
    sv, _options = validate._validator()
    cached = sv.load_validator
    original = cached.__wrapped__
    key = SigningKey.generate()
    objects = corpus(key, sv)

    def verdicts(loader: Any, validator: validate.ValidatorName) -> list[bool]:
        sv.load_validator = loader
        return [validate.stix_error(copy.deepcopy(o), validator) is None for o in objects]

    shipped, library, fast = (
        verdicts(original, "stix2-validator"),
        verdicts(cached, "stix2-validator"),
        verdicts(cached, "fast"),
    )
    print(
        f"corpus: {len(objects)} objects, {shipped.count(False)} invalid; verdicts differing "
        f"from stix2-validator as shipped: cached {_diff(shipped, library)}, "
        f"fast {_diff(shipped, fast)}"
    )
    pem = key.public.pem()
    indicators = [signed_indicator(key, n) for n in range(count)]
    signed = [(json.dumps(o).encode(), pem) for o in indicators]
    unsigned = [(body, None) for body, _ in signed]
    results: dict[str, list[float]] = {}
    runs = (
        ("stix2-validator as shipped", original, "stix2-validator"),
        ("stix2-validator, cached", cached, "stix2-validator"),
        ("fast", cached, "fast"),
    )
    for _round in range(2):
        for name, loader, validator in runs:
            sv.load_validator = loader
            for label, batch in (("validation", unsigned), ("validation + signature", signed)):
                validate.cpu_stage(batch[:1], validator)
                t0 = time.process_time()
                reasons = validate.cpu_stage(batch, validator)
                us = (time.process_time() - t0) * 1e6 / count
                assert all(r is None for r in reasons), reasons[:3]
                results.setdefault(f"{name:28} {label:24}", []).append(us)
    sv.load_validator = cached
    best = {name: min(values) for name, values in results.items()}
    for name, us in best.items():
        print(f"{name} {us:8.1f} µs CPU per signed indicator (best of 2)")
    for label in ("validation", "validation + signature"):
        ratio = best[f"{'stix2-validator, cached':28} {label:24}"] / best[f"{'fast':28} {label:24}"]
        print(f"{label}: fast is {ratio:.1f}x stix2-validator (cached)")
    return 1 if _diff(shipped, library) or _diff(shipped, fast) else 0


def _diff(a: list[bool], b: list[bool]) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


if __name__ == "__main__":
    sys.exit(main())
