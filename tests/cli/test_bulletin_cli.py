"""``exchange publish bulletin.md``: a Markdown bulletin with a YAML front matter becomes a
signed report and its objects; ``--dry-run`` prints the signed bundle and posts nothing."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.conftest import assert_stix_valid
from tests.conftest import TLP, LiveServer, run_cli

BULLETIN = textwrap.dedent("""\
    ---
    title: Faux remboursements d'impôts par SMS
    tlp: TLP:CLEAR
    type: [threat-report, best-practice]
    language: fr
    audience: [consumers, small-businesses]
    references:
      - cve: CVE-2024-3400
        description: Le pare-feu visé
      - url: https://www.example.org/advice
        name: Conseils
    indicators:
      - name: Domaine d'hameçonnage
        pattern: "[domain-name:value = 'impots-remboursement.example']"
      - "[url:value = 'https://impots-remboursement.example/login']"
    ---
    ## Ce qu'il faut faire

    Ne cliquez **jamais** sur le lien.
    """)


def write(tmp_path: Path, text: str, name: str = "bulletin.md") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def publish(server: LiveServer, member: Any, path: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(
        "publish",
        str(path),
        "--url",
        server.api_root,
        "--token",
        member.token,
        "--key",
        str(member.key_path),
        *extra,
    )


def public_ids(server: LiveServer) -> list[str]:
    feed = requests.get(server.url + "/feeds/feed.json", timeout=30).json()
    return [i["url"].rsplit("/", 1)[1] for i in feed["items"]]


def test_dry_run_prints_the_signed_stix_and_posts_nothing(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    a = make_member("CERT-A")
    code, out, err = publish(server, a, write(tmp_path, BULLETIN), "--dry-run", "--json")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    bundle = json.loads(lines[0])
    assert bundle["type"] == "bundle"
    objects = bundle["objects"]
    assert [o["type"] for o in objects] == ["vulnerability", "indicator", "indicator", "report"]
    for obj in objects:
        assert_stix_valid(obj)
        assert obj["created_by_ref"] == a.identity
        assert obj["object_marking_refs"] == [TLP["clear"]]
        assert obj["extensions"]  # signed
    report = objects[-1]
    assert report["name"] == "Faux remboursements d'impôts par SMS"
    assert report["lang"] == "fr"
    assert report["labels"] == ["consumers", "small-businesses"]
    assert report["report_types"] == ["threat-report", "best-practice"]
    assert report["description"].startswith("## Ce qu'il faut faire")
    assert report["object_refs"] == [o["id"] for o in objects[:-1]]
    assert report["external_references"][0]["url"] == "https://www.example.org/advice"
    assert objects[0]["external_references"] == [
        {"source_name": "cve", "external_id": "CVE-2024-3400"}
    ]
    assert public_ids(server) == []  # nothing was posted

    code, out, err = publish(server, a, write(tmp_path, BULLETIN), "--dry-run")
    assert code == 0, err
    assert json.loads(out)["objects"][-1]["type"] == "report"  # pretty-printed, still JSON


def test_publish_a_markdown_bulletin(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    a = make_member("CERT-A")
    code, out, err = publish(server, a, write(tmp_path, BULLETIN), "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["success_count"] == 4 and status["failure_count"] == 0
    [report_id] = public_ids(server)
    page = requests.get(f"{server.url}/bulletins/{report_id}", timeout=30)
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert 'data-verified="true"' in page.text
    assert "<strong>jamais</strong>" in page.text
    assert "impots-remboursement.example" in page.text
    assert "CVE-2024-3400" in page.text


def test_same_id_publishes_a_new_version(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    a = make_member("CERT-A")
    text = BULLETIN.replace(
        "tlp: TLP:CLEAR\n", "tlp: clear\nid: report--6b0a3c1e-8f1d-4c2a-9e3b-7d5f0a1b2c3d\n"
    )
    assert publish(server, a, write(tmp_path, text), "--json")[0] == 0
    edited = text.replace("Faux remboursements", "Nouveaux faux remboursements")
    code, _out, err = publish(server, a, write(tmp_path, edited), "--json")
    assert code == 0, err
    assert public_ids(server) == ["report--6b0a3c1e-8f1d-4c2a-9e3b-7d5f0a1b2c3d"]
    feed = requests.get(server.url + "/feeds/feed.json", timeout=30).json()
    assert feed["items"][0]["title"].startswith("Nouveaux")


def test_amber_bulletin_gets_an_audience_marking_and_stays_private(
    server: LiveServer, make_member: Any, tmp_path: Path
) -> None:
    a, b = make_member("CERT-A"), make_member("CERT-B")
    text = BULLETIN.replace("tlp: TLP:CLEAR", "tlp: amber").replace(
        "audience: [consumers, small-businesses]", f'audience: ["member:{b.identity}", ministries]'
    )
    code, out, err = publish(server, a, write(tmp_path, text), "--dry-run", "--json")
    assert code == 0, err
    objects = json.loads(out)["objects"]
    marking = objects[0]
    assert marking["type"] == "marking-definition"
    audience = marking["extensions"]["extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c"]
    assert audience["audience"] == [f"member:{b.identity}"]
    assert objects[-1]["object_marking_refs"] == [TLP["amber"], marking["id"]]
    assert objects[-1]["labels"] == ["ministries"]
    code, out, err = publish(server, a, write(tmp_path, text), "--json")
    assert code == 0, err
    assert json.loads(out)["success_count"] == 5
    assert public_ids(server) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter\n", "starts with a YAML front matter"),
        (
            "---\ntitle: x\ntlp: clear\nindicators: ['[ipv4-addr:value = \"1.2.3.4\"]']\n",
            "no closing",
        ),
        ("---\ntitle: [unclosed\n---\nbody\n", "not valid YAML"),
        ("---\n- a list\n---\nbody\n", "must be a mapping"),
        ("---\ntitle: x\ntlp: purple\nindicators: [a]\n---\n", "tlp"),
        ("---\ntlp: clear\nindicators: [a]\n---\n", "title"),
        ("---\ntitle: x\ntlp: clear\ncolour: red\nindicators: [a]\n---\n", "colour"),
        ("---\ntitle: x\ntlp: clear\n---\nbody\n", "must reference something"),
        ("---\ntitle: x\ntlp: amber\nindicators: [a]\n---\n", "needs an audience"),
        ("---\ntitle: x\ntlp: clear\ntype: gossip\nindicators: [a]\n---\n", "type"),
        ("---\ntitle: x\ntlp: clear\nreferences: [{cve: CVE-1}]\n---\n", "CVE"),
        ("---\ntitle: x\ntlp: clear\nlanguage: 'fr\"><'\nindicators: [a]\n---\n", "language"),
    ],
)
def test_bad_bulletins_get_one_line(
    server: LiveServer, make_member: Any, tmp_path: Path, text: str, message: str
) -> None:
    a = make_member("CERT-A")
    code, out, err = publish(server, a, write(tmp_path, text), "--json")
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert public_ids(server) == []


def test_dry_run_of_a_json_bundle(server: LiveServer, make_member: Any, tmp_path: Path) -> None:
    from tests.conftest import indicator

    a = make_member("CERT-A")
    obj = indicator("clear")
    path = write(tmp_path, json.dumps({"objects": [obj]}), "objects.json")
    code, out, err = publish(server, a, path, "--dry-run", "--json")
    assert code == 0, err
    [signed] = json.loads(out)["objects"]
    assert signed["id"] == obj["id"] and signed["created_by_ref"] == a.identity
