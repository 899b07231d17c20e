"""``exchange verify --log``: a member's check of the transparency log, safe to run from cron.

It checks the signed tree head (against the log key or a retired one), its consistency with
the head kept in the state file (a fork or a rollback is reported loudly and the old head is
kept, so the alarm repeats), the inclusion of every object of a file, and witnesses'
cosignatures; ``--cosign`` adds the member's own cosignature to a head that passed every
check. Nothing here trusts the exchange beyond what the log key's signatures and the RFC 9162
proofs show. See docs/transparency.md.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from exchange.client import ApiClient, DirectoryKey
from exchange.crypto import (
    NOTE_ED25519,
    SigningKey,
    VerifyKey,
    b64_decode,
    b64_encode,
    canonical_json,
    leaf_hash,
    note_key_id,
    sign_json,
    verify_json,
)
from exchange.errors import ExchangeError, InvalidInput, NotFound, SignatureError
from exchange.translog.checkpoint import checkpoint_body, cosignature_message
from exchange.translog.merkle import verify_consistency, verify_inclusion

STATE_FORMAT = "exchange-log-state"
HEAD_KEYS = ("tree_size", "root_hash", "timestamp", "key_id")


@dataclass
class LogCheck:
    """The outcome of one run; ``to_json`` is what ``--json`` prints."""

    tree_size: int | None = None
    consistent: bool = False
    included: list[str] = field(default_factory=list)
    cosignatures: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)  # forks, rollbacks, missing leaves
    cosigned: bool = False
    unchecked: list[str] = field(default_factory=list)
    state: str | None = None
    proofs: list[str] | None = None

    def alarm(self, message: str) -> None:
        self.alarms.append(message)
        self.problems.append(message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tree_size": self.tree_size,
            "consistent": self.consistent,
            "included": self.included,
            "cosignatures": self.cosignatures,
            "problems": self.problems,
            "cosigned": self.cosigned,
        }
        if self.unchecked:
            out["unchecked"] = self.unchecked
        if self.state is not None:
            out["state"] = self.state
        if self.proofs is not None:
            out["proofs"] = self.proofs
        return out


# --- heads ------------------------------------------------------------------------------------


def parse_head(value: Any) -> dict[str, Any]:
    """The signed part of a head, its signature and cosignatures; ExchangeError if malformed."""
    if not isinstance(value, dict):
        raise ExchangeError("the log head is not a JSON object")
    size, root = value.get("tree_size"), value.get("root_hash")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ExchangeError("the log head's tree_size is not a non-negative integer")
    if not isinstance(root, str) or len(root) != 64 or root.strip("0123456789abcdef"):
        raise ExchangeError("the log head's root_hash is not 64 lowercase hex digits")
    for name in ("timestamp", "key_id", "signature"):
        if not isinstance(value.get(name), str):
            raise ExchangeError(f"the log head's {name} is not a string")
    cosigs = value.get("cosignatures", [])
    if not isinstance(cosigs, list):
        raise ExchangeError("the log head's cosignatures are not a list")
    return {
        **{k: value[k] for k in HEAD_KEYS},
        "signature": value["signature"],
        "cosignatures": [c for c in cosigs if isinstance(c, dict)],
    }


def signed_part(head: dict[str, Any]) -> dict[str, Any]:
    return {k: head[k] for k in HEAD_KEYS}


def log_keys(api: ApiClient) -> dict[str, VerifyKey]:
    """The log key and every retired one, by key id (each id checked against its key)."""
    answer = api.get("log/key/")
    entries = [answer, *answer.get("history", [])] if isinstance(answer, dict) else []
    keys: dict[str, VerifyKey] = {}
    for entry in entries:
        try:
            key = VerifyKey.from_pem(entry["public_key"])
        except (KeyError, TypeError, SignatureError) as exc:
            raise ExchangeError(f"the log key answer holds a malformed key: {exc}") from exc
        if key.key_id != entry.get("key_id"):
            raise ExchangeError("the log key answer gives a key under another key's id")
        keys[key.key_id] = key
    if not keys:
        raise ExchangeError("the exchange names no log key")
    return keys


# --- the state file ---------------------------------------------------------------------------


def read_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        value = json.loads(path.read_text("utf-8"))
        head = parse_head({**value["head"], "cosignatures": []})
        known = [str(k) for k in value.get("log_keys", [])]
    except (OSError, ValueError, KeyError, TypeError, ExchangeError) as exc:
        raise InvalidInput(
            f"the state file {path} is not one `exchange verify --log` wrote: {exc}"
        ) from exc
    return {"url": value.get("url"), "head": head, "log_keys": known}


def write_state(path: Path, url: str, head: dict[str, Any], known: Sequence[str]) -> None:
    """Replace the state file atomically (a crash leaves the old one or the new one)."""
    body = (
        json.dumps(
            {
                "format": STATE_FORMAT,
                "url": url,
                "head": {**signed_part(head), "signature": head["signature"]},
                "log_keys": sorted(known),
            },
            indent=1,
        )
        + "\n"
    )
    folder = path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".log-state-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the check --------------------------------------------------------------------------------


def _version(obj: dict[str, Any]) -> str | None:
    value = obj.get("modified", obj.get("created"))
    return value if isinstance(value, str) else None


def _check_consistency(
    api: ApiClient, old: dict[str, Any], new: dict[str, Any], result: LogCheck, where: str
) -> bool:
    m, n = old["tree_size"], new["tree_size"]
    if n < m:
        result.alarm(f"ROLLBACK: the exchange serves tree size {n}, smaller than the {m} {where}")
        return False
    if m == 0:
        return True
    if m == n:
        if old["root_hash"] != new["root_hash"]:
            result.alarm(
                f"FORK: tree size {n} has root {new['root_hash']}, not the "
                f"{old['root_hash']} {where}"
            )
            return False
        return True
    try:
        answer = api.get("log/consistency/?" + urlencode({"first": m, "second": n}))
        proof = [bytes.fromhex(h) for h in answer["proof"]]
    except (ExchangeError, KeyError, TypeError, ValueError) as exc:
        result.alarm(f"FORK: no consistency proof from tree size {m} to {n}: {exc}")
        return False
    if not verify_consistency(
        m, n, bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]), proof
    ):
        result.alarm(
            f"FORK: the head of size {n} does not extend the head of size {m} "
            f"{where}: history was rewritten"
        )
        return False
    return True


def _check_inclusion(
    api: ApiClient, objects: Sequence[dict[str, Any]], head: dict[str, Any], result: LogCheck
) -> dict[int, tuple[int, list[bytes]]]:
    """Check every object's inclusion; (object position -> (leaf index, audit path)) of
    those included."""
    proofs: dict[int, tuple[int, list[bytes]]] = {}
    root = bytes.fromhex(head["root_hash"])
    for position, obj in enumerate(objects):
        stix_id, version = str(obj.get("id")), _version(obj)
        if version is None:  # cyber-observables: their version is the exchange's date_added
            result.unchecked.append(stix_id)
            continue
        query = urlencode({"id": stix_id, "version": version, "tree_size": head["tree_size"]})
        try:
            answer = api.get("log/inclusion/?" + query)
            index = int(answer["leaf_index"])
            path = [bytes.fromhex(h) for h in answer["audit_path"]]
        except NotFound:
            result.alarm(
                f"MISSING LEAF: {stix_id} version {version} is not in the log of "
                f"size {head['tree_size']} (or is not one you may read)"
            )
            continue
        except (ExchangeError, KeyError, TypeError, ValueError) as exc:
            result.alarm(f"MISSING LEAF: no inclusion proof for {stix_id} version {version}: {exc}")
            continue
        leaf = leaf_hash(canonical_json(obj))
        if verify_inclusion(leaf, index, head["tree_size"], path, root):
            result.included.append(stix_id)
            proofs[position] = (index, path)
        else:
            result.alarm(
                f"NOT IN THE LOG: {stix_id} version {version} as you hold it is not "
                "the leaf the log holds (its bytes were changed, or the log forked)"
            )
    return proofs


def proof_file_name(obj: dict[str, Any]) -> str:
    """``<id>@<version>.tlog-proof``, with the version's colons made safe for any file system."""
    version = (_version(obj) or "").replace(":", "")
    return f"{obj.get('id')}@{version}.tlog-proof"


def tlog_proof(index: int, path: Sequence[bytes], checkpoint: str) -> str:
    """A C2SP tlog-proof@v1: the leaf index, the audit path, a blank line, the checkpoint."""
    lines = ["c2sp.org/tlog-proof@v1", f"index {index}", *(b64_encode(h) for h in path)]
    return "\n".join(lines) + "\n\n" + checkpoint


def write_proofs(
    folder: Path,
    objects: Sequence[dict[str, Any]],
    proofs: dict[int, tuple[int, list[bytes]]],
    checkpoint: str,
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for position, (index, path) in sorted(proofs.items()):
        target = folder / proof_file_name(objects[position])
        target.write_text(tlog_proof(index, path, checkpoint), encoding="utf-8")
        written.append(str(target))
    return written


def _cosignatures(
    head: dict[str, Any], directory: Sequence[DirectoryKey], me: str | None
) -> list[dict[str, str]]:
    """The valid cosignatures of other members, one per member."""
    by_id = {k.key_id: k for k in directory}
    found: dict[str, dict[str, str]] = {}
    for cosig in head["cosignatures"]:
        key = by_id.get(str(cosig.get("key_id")))
        member = cosig.get("member")
        if key is None or key.member is None or key.member != member or member == me:
            continue
        if key.revoked_since is not None:
            continue
        if verify_json(
            VerifyKey.from_pem(key.public_key), signed_part(head), str(cosig.get("signature"))
        ):
            found.setdefault(key.member, {"member": key.member, "key_id": key.key_id})
    return list(found.values())


def fetch_checkpoint(api: ApiClient, head: dict[str, Any], log_key: VerifyKey) -> tuple[str, str]:
    """(note body, whole note) of the head's checkpoint, checked: it states the same head,
    and the log key's note signature (key name = origin) verifies over it."""
    url = api.url(f"log/checkpoint?tree_size={head['tree_size']}")
    try:
        response = api.session.get(url, headers={"Accept": "text/plain"}, timeout=api.timeout)
    except requests.RequestException as exc:
        raise ExchangeError(f"GET {url}: {exc}") from exc
    if response.status_code != 200:
        raise ExchangeError(f"GET {url}: HTTP {response.status_code}")
    text = response.content.decode("utf-8", "replace")
    body, sep, signatures = text.rpartition("\n\n")
    body += "\n"
    lines = body.split("\n")
    if not sep or len(lines) < 4:
        raise ExchangeError("the checkpoint is not a signed note")
    origin = lines[0]
    if body != checkpoint_body(origin, head["tree_size"], bytes.fromhex(head["root_hash"])):
        raise ExchangeError("the checkpoint does not state the head the log serves")
    wanted = note_key_id(origin, NOTE_ED25519, log_key)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != origin:
            continue
        try:
            raw = b64_decode(parts[2])
        except ExchangeError:
            continue
        if raw[:4] == wanted and log_key.verify(raw[4:], body.encode("utf-8")):
            return body, text
    raise ExchangeError("the checkpoint carries no valid signature by the log key")


def verify_log(
    api_root_url: str,
    token: str,
    *,
    state: Path | None = None,
    objects: Sequence[dict[str, Any]] = (),
    own_key: SigningKey | None = None,
    cosign: bool = False,
    witnesses: int = 0,
    proof_dir: Path | None = None,
) -> LogCheck:
    """Check the log as the member holding ``token`` (and ``own_key``, whose cosignatures
    do not count as witnesses); ``cosign`` posts the member's cosignature when all holds."""
    result = LogCheck()
    kept = read_state(state) if state is not None else None
    with ApiClient(api_root_url, token) as api:
        keys = log_keys(api)
        head = parse_head(api.get("log/"))
        result.tree_size = head["tree_size"]
        key = keys.get(head["key_id"])
        if key is None:
            result.alarm(f"FORK: the head is signed with {head['key_id']}, which is not a log key")
            return result
        if not verify_json(key, signed_part(head), head["signature"]):
            result.alarm("FORK: the head's signature does not verify with the log key")
            return result
        consistent = True
        if kept is not None:
            lost = [k for k in kept["log_keys"] if k not in keys]
            if lost:
                result.alarm(
                    f"FORK: log keys seen before are gone from the history: {', '.join(lost)}"
                )
                consistent = False
            if kept["url"] not in (None, api.base):
                result.problems.append(f"the state file was kept for {kept['url']}, not {api.base}")
            consistent = (
                _check_consistency(api, kept["head"], head, result, "seen before (state file)")
                and consistent
            )
        result.consistent = consistent
        proofs = _check_inclusion(api, objects, head, result)
        directory = api.key_directory() if witnesses or own_key is not None else []
        me = None
        if own_key is not None:
            mine = next((k for k in directory if k.key_id == own_key.public.key_id), None)
            if mine is None:
                result.problems.append("your key is not in the exchange's key directory")
            me = mine.member if mine is not None else None
        result.cosignatures = _cosignatures(head, directory, me) if directory else []
        if witnesses and len(result.cosignatures) < witnesses:
            result.problems.append(
                f"only {len(result.cosignatures)} of the {witnesses} "
                "witnesses asked for cosigned this head"
            )
        checkpoint = None
        if (proof_dir is not None and proofs) or (cosign and not result.problems):
            try:
                checkpoint = fetch_checkpoint(api, head, key)
            except ExchangeError as exc:
                result.alarm(f"FORK: {exc.message}")
        if proof_dir is not None and checkpoint is not None:
            result.proofs = write_proofs(proof_dir, objects, proofs, checkpoint[1])
        if cosign and own_key is not None and not result.problems:
            body: dict[str, Any] = {
                "tree_size": head["tree_size"],
                "root_hash": head["root_hash"],
                "key_id": own_key.public.key_id,
                "signature": sign_json(own_key, signed_part(head)),
            }
            if checkpoint is not None:
                stamp = int(time.time())
                body["checkpoint"] = {
                    "timestamp": stamp,
                    "signature": b64_encode(
                        own_key.sign(cosignature_message(checkpoint[0], stamp))
                    ),
                }
            api.post("log/cosignatures/", json.dumps(body).encode())
            result.cosigned = True
        if state is not None and consistent:
            write_state(
                state, api.base, head, sorted(set(keys) | set(kept["log_keys"] if kept else []))
            )
            result.state = str(state)
    return result
