"""schemathesis against a live exchange, from schemas/openapi.json: generated requests (valid
and not) for every operation, as a member and anonymously. No answer may be a 500, and every
answer must be documented (status, media type, headers) and match its schema; a request the
schema says is invalid must be refused.

The event stream is left out here (an accepted request stays open); tests/api/test_fuzz_http.py
fuzzes it. Bounded: a fixed seed, a few examples per operation, one worker per run (the two
runs at once), about 20 s. The checks left out are the ones the exchange cannot meet by design: ``positive_data_acceptance``
(a schema-valid ``next`` or ``Last-Event-ID`` is still refused unless the exchange sealed it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import post_objects
from tests.conftest import LiveServer, indicator

SPEC = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
SEED = 20261203
EXAMPLES_PER_OPERATION = 4
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
    ]
)


def start_schemathesis(
    server: LiveServer,
    folder: Path,
    headers: dict[str, str],
    parameters: dict[str, str],
    phases: str,
) -> subprocess.Popen[str]:
    folder.mkdir()
    config = folder / "schemathesis.toml"
    lines = ["[parameters]"] + [f"{json.dumps(k)} = {json.dumps(v)}" for k, v in parameters.items()]
    config.write_text("\n".join(lines) + "\n", "utf-8")
    argv = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        str(SPEC),
        "--url",
        server.url,
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--workers",
        "1",
        "--phases",
        phases,
        "--checks",
        CHECKS,
        "--no-shrink",
        "--continue-on-failure",
        "--request-timeout",
        "10",
        "--max-redirects",
        "0",
        "--suppress-health-check",
        "all",
        "--warnings",
        "off",
        # A stream that is let in stays open (that is its job): tests/api/test_fuzz_http.py
        # fuzzes its parameters and Last-Event-ID, reading only the first block.
        "--exclude-path-regex",
        "/events/$",
    ]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder
    )


def finish(run: subprocess.Popen[str]) -> None:
    try:
        output, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    report = output[-20000:]
    assert run.returncode == 0, report
    assert " generated, " in output, report


@pytest.fixture
def stored(server: LiveServer, make_member: Any) -> tuple[str, dict[str, str]]:
    """A member's token, and real ids to aim the object, status and bulletin routes at."""
    member = make_member()
    signed = member.sign(indicator("clear"))
    report = member.sign(
        {
            "type": "report",
            "spec_version": "2.1",
            "id": "report--4c3b2a19-0f6e-4d5c-8b7a-6e5d4c3b2a19",
            "created": signed["created"],
            "modified": signed["modified"],
            "published": signed["created"],
            "name": "Public advice",
            "report_types": ["threat-report"],
            "object_refs": [signed["id"]],
            "object_marking_refs": signed["object_marking_refs"],
        }
    )
    status = post_objects(server, member.token, [signed, report])
    assert status["success_count"] == 2, status
    return member.token, {
        "path.object_id": signed["id"],
        "path.status_id": status["id"],
        "path.report_id": report["id"],
    }


def test_as_a_member_and_anonymously(
    server: LiveServer, stored: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    """Both runs at once, against one exchange (what the member stored is TLP:CLEAR). The
    coverage phase's edge cases meet the same parsers in both: the anonymous run is kept to
    random requests, most of which stop at 401."""
    token, parameters = stored
    member = start_schemathesis(
        server,
        tmp_path / "member",
        {"Authorization": f"Bearer {token}"},
        parameters,
        "examples,coverage,fuzzing",
    )
    anonymous = start_schemathesis(server, tmp_path / "anonymous", {}, {}, "examples,fuzzing")
    finish(member)
    finish(anonymous)
