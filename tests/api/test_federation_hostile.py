"""A hostile peer, answer by answer (issue 16): X pulls an honest Y through a proxy that
rewrites Y's answers as a peer turned hostile (or a network in between) would. Whatever the
rewrite, X imports nothing it cannot prove (the author's signature under a key of Y's
directory for that author, inclusion in Y's log), says what went wrong in ``problems``,
and keeps what it could prove. Each case on its own pair of exchanges (SQLite)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from exchange.crypto import SigningKey, sign_json
from tests.api.conftest import post_objects, successes
from tests.api.peer_proxy import Answer, Rewrite, RewritingProxy
from tests.api.test_federation_import import ids, peer_show
from tests.api.test_federation_serving import register_peer
from tests.conftest import LiveServer, cli_json, indicator, register_member, until

if TYPE_CHECKING:
    from tests.conftest import TestMember

OBJECTS_PATH = "/api/v1/collections/bulletins/objects/"


@dataclass
class World:
    cert: TestMember
    good: dict[str, Any]  # posted on Y, left alone by the rewrite
    victim: dict[str, Any]  # posted on Y, the rewrite's target
    extra: dict[str, Any]  # signed by the CERT's key, never posted to Y


def objects_page(rewrite: Callable[[dict[str, Any], Answer], None]) -> Rewrite:
    def apply(answer: Answer) -> None:
        if answer.method == "GET" and answer.path.startswith(OBJECTS_PATH) and answer.status == 200:
            envelope = json.loads(answer.body)
            if envelope.get("objects"):
                rewrite(envelope, answer)
                answer.body = json.dumps(envelope).encode()

    return apply


def tampered(w: World) -> Rewrite:
    def change(envelope: dict[str, Any], _: Answer) -> None:
        for o in envelope["objects"]:
            if o["id"] == w.victim["id"]:
                o["name"] = "rewritten on the way"

    return objects_page(change)


def injected(w: World) -> Rewrite:
    def add(envelope: dict[str, Any], _: Answer) -> None:
        if w.extra["id"] not in {o["id"] for o in envelope["objects"]}:
            envelope["objects"].append(w.extra)

    return objects_page(add)


def reattributed(w: World) -> Rewrite:
    """The directory lists the CERT's key for another author."""

    def apply(answer: Answer) -> None:
        if answer.method == "GET" and answer.path.startswith("/api/v1/keys/"):
            body = json.loads(answer.body)
            for k in body["keys"]:
                if k["identity"] == w.cert.identity:
                    k["identity"] = "identity--00000000-0000-4000-8000-000000000000"
            answer.body = json.dumps(body).encode()

    return apply


def more_without_next(w: World) -> Rewrite:
    def change(envelope: dict[str, Any], _: Answer) -> None:
        envelope["more"] = True
        envelope.pop("next", None)

    return objects_page(change)


def not_an_envelope(w: World) -> Rewrite:
    def apply(answer: Answer) -> None:
        if answer.method == "GET" and answer.path.startswith(OBJECTS_PATH):
            answer.body = b"<html>maintenance</html>"

    return apply


def no_date_added(w: World) -> Rewrite:
    def apply(answer: Answer) -> None:
        if answer.method == "GET" and answer.path.startswith(OBJECTS_PATH):
            answer.headers.pop("X-TAXII-Date-Added-Last", None)

    return apply


def bad_head_signature(w: World) -> Rewrite:
    def apply(answer: Answer) -> None:
        if answer.method == "GET" and answer.path == "/api/v1/log/" and answer.status == 200:
            head = json.loads(answer.body)
            head["signature"] = sign_json(SigningKey.generate(), {"not": "the head"})
            answer.body = json.dumps(head).encode()

    return apply


def server_error(w: World) -> Rewrite:
    def apply(answer: Answer) -> None:
        if answer.method == "POST" and answer.path.startswith("/api/v1/log/inclusions/"):
            answer.status = 500
            answer.body = b"{}"

    return apply


def wrong_proofs(w: World) -> Rewrite:
    """Inclusion proofs with their audit paths reversed: proofs of nothing."""

    def apply(answer: Answer) -> None:
        if answer.method == "POST" and answer.path.startswith("/api/v1/log/inclusions/"):
            body = json.loads(answer.body)
            for proof in body.get("proofs", []):
                if len(proof.get("audit_path", [])) > 1:
                    proof["audit_path"].reverse()
                else:
                    proof["leaf_index"] = proof.get("leaf_index", 0) + 1
            answer.body = json.dumps(body).encode()

    return apply


# (rewrite, what `problems` says, which of the objects X must not hold, may X hold `good`)
CASES: dict[str, tuple[Callable[[World], Rewrite], str, tuple[str, ...], bool]] = {
    "tampered bytes": (tampered, "victim", ("victim",), True),
    "an object not in the log": (injected, "[not-in-log]", ("extra",), True),
    "a key re-attributed": (reattributed, "refused", ("good", "victim"), False),
    "more without next": (more_without_next, "says more but gives no next", ("good",), False),
    "not an envelope": (not_an_envelope, "not a TAXII envelope", ("good",), False),
    "no date added": (no_date_added, "X-TAXII-Date-Added-Last", ("good",), False),
    "a head not signed by the log key": (bad_head_signature, "not signed", ("good",), False),
    "proofs answer 500": (server_error, "answered 500", ("good",), False),
    "proofs of nothing": (wrong_proofs, "[not-in-log]", ("good", "victim"), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_peer_gets_nothing_unproved_past_the_importer(
    case: str,
    servers: Callable[[str], tuple[str, LiveServer]],
    proxies: Callable[[LiveServer, Rewrite], RewritingProxy],
    tmp_path: Path,
) -> None:
    make_rewrite, said, absent, good_arrives = CASES[case]
    y_db, y = servers("y")
    x_db, x = servers("x")
    cert = register_member(y_db, tmp_path, "CERT-MY", economy="MY")
    x_on_y = register_peer(y_db, "X", "MY", "green")
    world = World(
        cert=cert,
        good=cert.sign(indicator("clear", name="good")),
        victim=cert.sign(indicator("clear", name="victim")),
        extra=cert.sign(indicator("clear", name="extra")),
    )
    assert len(successes(post_objects(y, cert.token, [world.good, world.victim]))) == 2
    proxy = proxies(y, make_rewrite(world))
    cli_json(
        "admin", "peer", "add", "Y", "--url", proxy.api_root, "--token", x_on_y.token,
        "--db", x_db,
    )  # fmt: skip
    reader = register_member(x_db, tmp_path, "Bank-MY", economy="MY")

    def problems() -> list[str]:
        found: list[str] = peer_show(x_db, "Y")["problems"]
        return found

    if said == "victim":
        said = world.victim["id"]
    assert until(lambda: any(said in p for p in problems())), problems()
    if good_arrives:
        assert until(lambda: world.good["id"] in ids(x, reader.token)), problems()
    held = ids(x, reader.token)
    for name in absent:
        assert getattr(world, name)["id"] not in held, (name, problems())
    if not good_arrives:
        shown = peer_show(x_db, "Y")
        assert shown["imported"] == 0 or world.good["id"] not in held, shown
