"""docs/clients.md: every ``python`` and ``sh`` block of it runs, in order, against a live
exchange (taxii2-client, stix2, curl and exchange.client as a member uses them)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import LiveServer

if TYPE_CHECKING:
    from tests.conftest import TestMember

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    found = [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text("utf-8"))]
    assert len(found) >= 6
    return found


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None,
    reason="the sh examples need curl and jq",
)
def test_every_example_runs(
    server: LiveServer, make_member: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member: TestMember = make_member("CERT-DOC")
    env = {
        "API_ROOT": server.api_root,
        "EXCHANGE_TOKEN": member.token,
        "KEY_FILE": str(member.key_path),
        "IDENTITY": member.identity,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    outputs: list[str] = []
    for kind, code in blocks():
        if kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, str(DOC), "exec"), {"__name__": "__doc_example__"})
            outputs.append(out.getvalue())
        else:
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (code, done.stdout, done.stderr)
            outputs.append(done.stdout)
    text = "\n".join(outputs)
    assert server.api_root in text  # discovery's default API root
    assert "bulletins" in text and "3 stored" in text
    assert "indicators from" in text
    # the curl post of the signed file stored its one object
    assert any(o.strip() == "1" for o in outputs)
