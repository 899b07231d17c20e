"""Extract the test corpora of stix2-validator and stix2-patterns into tests/assets/, for the
differential tests of the exchange's own STIX validation (tests/unit/test_stix_differential.py).

    .venv/bin/python bench/extract_corpora.py VALIDATOR_SRC PATTERNS_SRC

VALIDATOR_SRC is a checkout of oasis-open/cti-stix-validator (its source distribution has no
tests), PATTERNS_SRC an unpacked source distribution of stix2-patterns
(``pip download --no-binary :all: --no-deps stix2-patterns``). Nothing of their code is kept:

- stix2-validator: its v21 test suite is run (with pytest, against the installed
  stix2validator package) with ``validate_instance`` wrapped to record every object it is
  given; the objects are kept, deduplicated, with the examples its package ships
  (schemas-2.1/examples). Verdicts are not kept: the differential tests ask the installed
  stix2-validator each time.
- stix2-patterns: every string literal of its v20 and v21 test modules that looks like a
  pattern, and the lines of its spec_examples.txt files.
"""

from __future__ import annotations

import ast
import copy
import glob
import json
import os
import shutil
import sys
import tempfile
from typing import Any

ASSETS = os.path.join(os.path.dirname(__file__), "..", "tests", "assets")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def validator_objects(source: str) -> list[Any]:
    import pytest
    import stix2validator

    installed = os.path.dirname(stix2validator.__file__)
    work = tempfile.mkdtemp(prefix="extract-")
    package = os.path.join(work, "stix2validator")
    shutil.copytree(installed, package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(os.path.join(package, "test"))
    shutil.copytree(os.path.join(source, "stix2validator", "test"), os.path.join(package, "test"))
    sys.path.insert(0, work)
    for name in [m for m in sys.modules if m.startswith("stix2validator")]:
        del sys.modules[name]
    import stix2validator.validator as sv

    seen: list[Any] = []
    original = sv.validate_instance

    def recording(instance: Any, options: Any = None) -> Any:
        seen.append(copy.deepcopy(instance))
        return original(instance, options)

    sv.validate_instance = recording
    stix2validator.validate_instance = recording
    pytest.main(
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            os.devnull,
            "--rootdir",
            work,
            "-o",
            "python_files=*_tests.py",
            os.path.join(package, "test", "v21"),
        ]
    )
    examples = os.path.join(installed, "schemas-2.1", "examples")
    for path in sorted(glob.glob(examples + "/**/*.json", recursive=True)):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        seen += data.get("objects", [data]) if isinstance(data, dict) else []
    shutil.rmtree(work)
    out, keys = [], set()
    for value in seen:
        key = canonical(value)
        if key not in keys:
            keys.add(key)
            out.append(value)
    return out


def pattern_strings(source: str) -> list[str]:
    found: list[str] = []
    tests = os.path.join(source, "stix2patterns", "test")
    for path in sorted(glob.glob(tests + "/**/*.py", recursive=True)):
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if ("[" in text or ":" in text) and not text.startswith("FAIL"):
                    found.append(text)
    for path in sorted(glob.glob(tests + "/**/spec_examples.txt", recursive=True)):
        with open(path, encoding="utf-8") as handle:
            found += [line.strip() for line in handle if line.strip()]
    return list(dict.fromkeys(found))


def main() -> int:
    validator_src, patterns_src = sys.argv[1:3]
    os.makedirs(os.path.join(ASSETS, "stix2-validator"), exist_ok=True)
    os.makedirs(os.path.join(ASSETS, "stix2-patterns"), exist_ok=True)
    patterns = pattern_strings(patterns_src)
    objects = validator_objects(validator_src)
    for sub, name, data in (
        ("stix2-validator", "objects.json", objects),
        ("stix2-patterns", "patterns.json", patterns),
    ):
        with open(os.path.join(ASSETS, sub, name), "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
    shutil.copy(os.path.join(validator_src, "LICENSE"), os.path.join(ASSETS, "stix2-validator"))
    shutil.copy(os.path.join(patterns_src, "LICENSE"), os.path.join(ASSETS, "stix2-patterns"))
    print(f"{len(objects)} objects, {len(patterns)} patterns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
