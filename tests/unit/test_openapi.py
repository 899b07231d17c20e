"""schemas/openapi.json: a structurally sound OpenAPI 3.1 document whose paths are exactly the
routes the application serves, and whose schemas describe what it actually answers.

The description is JSON rather than YAML because PyYAML is not among the project's
dependencies (JSON is valid YAML 1.2, so YAML tooling reads it as it is).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web

from exchange.app import create_app
from exchange.config import Settings
from exchange.crypto import sign_json
from tests.conftest import indicator

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SPEC_PATH = SCHEMAS / "openapi.json"

OPERATIONS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PATH_ITEM_KEYS = OPERATIONS | {"$ref", "summary", "description", "servers", "parameters"}
STATUS_KEY = re.compile(r"^([1-5][0-9]{2}|[1-5]XX|default)$")
TAXII = "application/taxii+json;version=2.1"
ERROR_STATUSES = {"400", "401", "403", "404", "406", "408", "413", "415", "422", "429", "503"}


# --- loading and walking ---------------------------------------------------------------------


def load_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    value = load_json(SPEC_PATH)
    assert isinstance(value, dict)
    return value


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every JSON object in ``node``, with a pointer to it."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


def pointer(doc: Any, fragment: str) -> Any:
    """Resolve a JSON pointer fragment (``/a/b~1c``, percent-encoded as in a URI)."""
    node = doc
    if not fragment:
        return node
    assert fragment.startswith("/"), f"not a JSON pointer: {fragment!r}"
    for raw in fragment[1:].split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        else:
            assert isinstance(node, dict) and token in node, f"no {token!r} in #{fragment}"
            node = node[token]
    return node


def deref(spec: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (components) until a node that is not a bare reference."""
    seen = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#"):
            return node
        node = pointer(spec, ref[1:])
        seen += 1
        assert seen < 20, f"$ref loop at {ref}"
    return node


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in OPERATIONS:
                yield path, method, operation


# --- structure -------------------------------------------------------------------------------


def test_top_level(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert isinstance(spec["info"]["title"], str) and spec["info"]["title"]
    assert isinstance(spec["info"]["version"], str) and spec["info"]["version"]
    assert isinstance(spec["paths"], dict) and spec["paths"]
    assert isinstance(spec["components"], dict)
    allowed = {
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    }
    extra = {k for k in spec if not k.startswith("x-")} - allowed
    assert not extra, f"unknown top-level keys {extra}"


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    documents: dict[Path, Any] = {SPEC_PATH: spec}
    pending = [SPEC_PATH]
    checked = 0
    while pending:
        current = pending.pop()
        for where, node in walk(documents[current]):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                continue
            target_file, _, fragment = ref.partition("#")
            path = (current.parent / target_file).resolve() if target_file else current
            assert path.is_file(), f"{current.name}{where}: $ref {ref!r}: no file {path}"
            if path not in documents:
                documents[path] = load_json(path)
                pending.append(path)
            pointer(documents[path], fragment)
            checked += 1
    assert checked > 50
    # the object schema names both extension schemas
    assert {p.name for p in documents} >= {
        "openapi.json",
        "signature-extension.schema.json",
        "audience-extension.schema.json",
    }


def test_paths_and_operations(spec: dict[str, Any]) -> None:
    operation_ids: set[str] = set()
    tags = {t["name"] for t in spec.get("tags", [])}
    schemes = spec["components"]["securitySchemes"]
    for name, scheme in schemes.items():
        assert scheme["type"] in {"apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"}, name
    for path, item in spec["paths"].items():
        assert path.startswith("/"), path
        assert set(item) <= PATH_ITEM_KEYS, (path, set(item) - PATH_ITEM_KEYS)
        template = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            if method not in OPERATIONS:
                continue
            where = f"{method.upper()} {path}"
            op_id = operation.get("operationId")
            assert isinstance(op_id, str) and op_id not in operation_ids, where
            operation_ids.add(op_id)
            assert set(operation.get("tags", [])) <= tags, where
            for requirement in operation.get("security", spec.get("security", [])):
                assert set(requirement) <= set(schemes), where
            params = [deref(spec, p) for p in item.get("parameters", [])]
            params += [deref(spec, p) for p in operation.get("parameters", [])]
            keys = [(p["name"], p["in"]) for p in params]
            assert len(keys) == len(set(keys)), f"{where}: a parameter twice"
            for p in params:
                assert p["in"] in {"query", "header", "path", "cookie"}, where
                assert ("schema" in p) != ("content" in p), f"{where}: {p['name']}"
                if p["in"] == "path":
                    assert p.get("required") is True, f"{where}: {p['name']}"
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == template, f"{where}: path parameters {in_path} != {template}"
            responses = operation["responses"]
            assert responses, where
            for status, response in responses.items():
                assert STATUS_KEY.match(status), f"{where}: {status}"
                response = deref(spec, response)
                assert isinstance(response.get("description"), str), f"{where} {status}"
            if "requestBody" in operation:
                assert deref(spec, operation["requestBody"])["content"], where


def test_schemas_use_known_keywords(spec: dict[str, Any]) -> None:
    """Every schema (the spec's and the extension schemas) uses only JSON Schema 2020-12 /
    OpenAPI keywords this file understands: a typo such as ``require`` fails here."""
    documents = [("openapi.json", s) for s in spec["components"]["schemas"].values()]
    documents += [(p.name, load_json(p)) for p in SCHEMAS.glob("*.schema.json")]
    for name, schema in documents:
        for where, node in schema_nodes(schema):
            unknown = set(node) - SCHEMA_KEYWORDS
            assert not unknown, f"{name}{where}: unknown keywords {unknown}"
            if "type" in node:
                kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
                assert set(kinds) <= JSON_TYPES, f"{name}{where}"
            for field in ("required", "enum"):
                if field in node:
                    assert isinstance(node[field], list) and node[field], f"{name}{where}"
            if "pattern" in node:
                re.compile(node["pattern"])
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("description"), f"schema {name} has no description"


def test_error_bodies_are_taxii_errors(spec: dict[str, Any]) -> None:
    """Every documented 4xx/5xx (but readyz' own 503 and the public bulletin page's 404) is the TAXII error body in TAXII JSON,
    with X-Request-ID; 401 carries WWW-Authenticate and 429 Retry-After."""
    seen: set[str] = set()
    for path, method, operation in operations(spec):
        for status, raw in operation["responses"].items():
            if not status.startswith(("4", "5")) or (path, status) in {
                ("/readyz", "503"),
                ("/bulletins/{report_id}", "404"),
            }:  # an HTML page
                continue
            seen.add(status)
            response = deref(spec, raw)
            assert response["content"][TAXII]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                method,
                path,
                status,
            )
            headers = set(response.get("headers", {}))
            assert "X-Request-ID" in headers, (method, path, status)
            if status == "401":
                assert "WWW-Authenticate" in headers
            if status == "429":
                assert "Retry-After" in headers
    assert seen >= ERROR_STATUSES
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["http_status"]["type"] == "string"
    assert set(error["required"]) >= {"title", "http_status"}


def test_taxii_operations_document_their_errors(spec: dict[str, Any]) -> None:
    def statuses(path: str, method: str) -> set[str]:
        return set(spec["paths"][path][method]["responses"])

    objects = "/api/v1/collections/{collection}/objects/"
    assert statuses(objects, "post") >= {
        "202",
        "400",
        "401",
        "403",
        "404",
        "406",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    for path, method, operation in operations(spec):
        if path.startswith(("/taxii2/", "/api/v1/")):
            assert {"401", "429", "503"} <= set(operation["responses"]), (method, path)
            assert "406" in operation["responses"], (method, path)
        if "{collection}" in path:
            assert "404" in operation["responses"], (method, path)


def test_every_operation_documents_limits_and_failures(spec: dict[str, Any]) -> None:
    """Any request may be rate-limited (429) or meet an internal error (500); one with a body
    may be too slow (408) or too large (413)."""
    for path, method, operation in operations(spec):
        responses = set(operation["responses"])
        assert {"429", "500"} <= responses, (method, path)
        if "requestBody" in operation:
            assert {"408", "413"} <= responses, (method, path)


def test_every_response_has_a_schema(spec: dict[str, Any]) -> None:
    """Every answer with a body documents, for each media type, the schema of that body (the
    checks of live answers and schemathesis compare against it); only a DELETE's 200 and a
    feed's 304 have no body."""
    bodiless = {
        ("delete", "/api/v1/collections/{collection}/objects/{object_id}/", "200"),
        ("get", "/feeds/atom.xml", "304"),
        ("get", "/feeds/feed.json", "304"),
    }
    for path, method, operation in operations(spec):
        for status, raw in operation["responses"].items():
            content = deref(spec, raw).get("content")
            if (method, path, status) in bodiless:
                assert not content, (method, path, status)
                continue
            assert content, (method, path, status)
            for media, entry in content.items():
                assert isinstance(entry.get("schema"), dict), (method, path, status, media)


def test_the_security_headers_are_described(spec: dict[str, Any]) -> None:
    from exchange.web.security import EVERY_RESPONSE, HSTS

    description = spec["info"]["description"]
    for name in [*EVERY_RESPONSE, "Content-Security-Policy", "Strict-Transport-Security"]:
        if name == "Cross-Origin-Resource-Policy":
            continue
        assert f"`{name}" in description, name
    assert HSTS.startswith("max-age=")
    assert "Cache-Control: no-store" in description


# --- the spec and the application ------------------------------------------------------------


def _normalise(path: str) -> str:
    """aiohttp's ``{name:regex}`` → OpenAPI's ``{name}``."""
    return re.sub(r"{([^}:]+)(:[^}]*)?}", r"{\1}", path)


def app_routes(db: Path) -> set[tuple[str, str]]:
    app = create_app(Settings(db=f"sqlite:///{db}"))
    found: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        found.add((route.method.lower(), _normalise(resource.canonical)))
    return found


def test_every_route_is_documented_and_every_path_is_a_route(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    routes = app_routes(tmp_path / "x.db")
    documented = {(method, path) for path, method, _ in operations(spec)}
    # aiohttp answers HEAD wherever GET is (allow_head); the spec says so once, in info.
    implied_head = {("head", p) for m, p in routes if m == "get" and ("head", p) in routes}
    served = routes - implied_head
    undocumented = served - documented
    assert not undocumented, f"routes missing from schemas/openapi.json: {sorted(undocumented)}"
    not_served = documented - routes
    assert not not_served, f"schemas/openapi.json documents no such route: {sorted(not_served)}"
    assert {p for _, p in routes} == set(spec["paths"])
    # the one GET without HEAD is the event stream, as the spec says
    no_head = {p for m, p in routes if m == "get" and ("head", p) not in routes}
    assert no_head == {"/api/v1/collections/{collection}/events/"}


def test_documented_routes_cover_the_interface(spec: dict[str, Any]) -> None:
    wanted = {
        ("get", "/taxii2/"),
        ("get", "/api/v1/"),
        ("get", "/api/v1/status/{status_id}/"),
        ("get", "/api/v1/collections/"),
        ("get", "/api/v1/collections/{collection}/"),
        ("get", "/api/v1/collections/{collection}/objects/"),
        ("post", "/api/v1/collections/{collection}/objects/"),
        ("get", "/api/v1/collections/{collection}/objects/{object_id}/"),
        ("delete", "/api/v1/collections/{collection}/objects/{object_id}/"),
        ("get", "/api/v1/collections/{collection}/objects/{object_id}/versions/"),
        ("get", "/api/v1/collections/{collection}/manifest/"),
        ("get", "/api/v1/collections/{collection}/events/"),
        ("get", "/api/v1/keys/"),
        ("get", "/api/v1/whoami/"),
        ("get", "/api/v1/deliveries/"),
        ("get", "/api/v1/log/"),
        ("get", "/api/v1/log/key/"),
        ("get", "/api/v1/log/inclusion/"),
        ("get", "/api/v1/log/consistency/"),
        ("post", "/api/v1/log/cosignatures/"),
        ("post", "/api/v1/log/inclusions/"),
        ("get", "/api/v1/federation/proofs/"),
        ("get", "/api/v1/federation/heads/"),
        ("get", "/api/v1/log/checkpoint"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    }
    assert wanted <= {(m, p) for p, m, _ in operations(spec)}


# --- what the application answers conforms -----------------------------------------------------


SCHEMA_KEYWORDS = {
    "$schema",
    "$id",
    "$ref",
    "title",
    "description",
    "default",
    "example",
    "examples",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "const",
    "enum",
    "pattern",
    "format",
    "minimum",
    "allOf",
    "anyOf",
    "oneOf",
}
JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}
SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
FORMATS = {
    "date-time": re.compile(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.I
    ),
    "uuid": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.I),
}


def schema_nodes(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """A schema and its subschemas (only where the keywords put subschemas)."""
    if not isinstance(schema, dict):
        return
    yield where or "/", schema
    for name, sub in schema.get("properties", {}).items():
        yield from schema_nodes(sub, f"{where}/properties/{name}")
    for key in ("items", "additionalProperties"):
        yield from schema_nodes(schema.get(key), f"{where}/{key}")
    for key in SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key, [])):
            yield from schema_nodes(sub, f"{where}/{key}/{i}")


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}[
        kind
    ]
    return isinstance(value, python)


class SchemaChecker:
    """Just enough JSON Schema 2020-12 for these schemas (see SCHEMA_KEYWORDS), with ``$ref``
    into the spec and into the extension schemas beside it. (jsonschema would do, but it
    takes seconds to import here.)"""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.documents: dict[str, Any] = {"openapi.json": spec}

    def _resolve(self, ref: str, document: str) -> tuple[Any, str]:
        target, _, fragment = ref.partition("#")
        document = target or document
        if document not in self.documents:
            self.documents[document] = load_json(SCHEMAS / document)
        return pointer(self.documents[document], fragment), document

    def errors(
        self, schema: Any, value: Any, document: str = "openapi.json", where: str = ""
    ) -> list[str]:
        if schema is True or schema == {}:
            return []
        if schema is False:
            return [f"{where}: not allowed"]
        out: list[str] = []
        if "$ref" in schema:
            target, doc = self._resolve(schema["$ref"], document)
            out += self.errors(target, value, doc, where)
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, k) for k in kinds):
                return [*out, f"{where}: {value!r} is not of type {schema['type']}"]
        if "const" in schema and value != schema["const"]:
            out.append(f"{where}: {value!r} is not {schema['const']!r}")
        if "enum" in schema and value not in schema["enum"]:
            out.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                out.append(f"{where}: {value!r} does not match {schema['pattern']}")
            check = FORMATS.get(schema.get("format", ""))
            if check is not None and not check.match(value):
                out.append(f"{where}: {value!r} is not a {schema['format']}")
        if _is_type(value, "number") and "minimum" in schema and value < schema["minimum"]:
            out.append(f"{where}: {value} < {schema['minimum']}")
        if isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                out.append(f"{where}: fewer than {schema['minItems']} items")
            if "items" in schema:
                for i, item in enumerate(value):
                    out += self.errors(schema["items"], item, document, f"{where}/{i}")
        if isinstance(value, dict):
            for name in schema.get("required", []):
                if name not in value:
                    out.append(f"{where}: {name!r} is required")
            properties = schema.get("properties", {})
            for name, item in value.items():
                if name in properties:
                    out += self.errors(properties[name], item, document, f"{where}/{name}")
                elif "additionalProperties" in schema:
                    out += self.errors(
                        schema["additionalProperties"], item, document, f"{where}/{name}"
                    )
        for sub in schema.get("allOf", []):
            out += self.errors(sub, value, document, where)
        if "anyOf" in schema and all(
            self.errors(sub, value, document, where) for sub in schema["anyOf"]
        ):
            out.append(f"{where}: {value!r} matches none of anyOf")
        if "oneOf" in schema:
            matched = sum(not self.errors(sub, value, document, where) for sub in schema["oneOf"])
            if matched != 1:
                out.append(f"{where}: {value!r} matches {matched} of oneOf")
        return out


def test_the_schema_checker_is_not_lenient(spec: dict[str, Any]) -> None:
    checker = SchemaChecker(spec)
    envelope = {"$ref": "#/components/schemas/Envelope"}
    good = {
        "more": False,
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--0f4b5a1e-3c1d-4a6e-9a43-0f8f2c5d9e10",
            }
        ],
    }
    assert checker.errors(envelope, good) == []
    assert checker.errors(envelope, {"objects": []})  # no "more", too few objects
    bad_signature = json.loads(json.dumps(good))
    bad_signature["objects"][0]["extensions"] = {
        "extension-definition--53903a24-06b3-4ef5-b7fe-fd3d5d29b3d1": {
            "extension_type": "property-extension",
            "alg": "RSA",
            "key_id": "x",
        }
    }
    found = checker.errors(envelope, bad_signature)
    assert any("'alg'" in e or "RSA" in e for e in found), found
    assert any("signature" in e for e in found), found
    bad_audience = json.loads(json.dumps(good))
    bad_audience["objects"][0]["extensions"] = {
        "extension-definition--08f4bf56-1ae6-4882-9203-9e8188a7443c": {
            "extension_type": "property-extension",
            "audience": ["planet:mars"],
        }
    }
    assert checker.errors(envelope, bad_audience)
    error = {"$ref": "#/components/schemas/Error"}
    assert checker.errors(error, {"title": "x", "http_status": 400})  # a number, not a string
    key = {"$ref": "#/components/schemas/Key"}
    assert checker.errors(
        key,
        {
            "key_id": "0" * 64,
            "member": "m",
            "identity": "identity--x",
            "public_key": "p",
            "not_before": "yesterday",
            "not_after": None,
            "revoked_since": None,
        },
    )


class Conformance:
    """Checks live answers against the documented response of their operation."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checker = SchemaChecker(spec)
        self.checked: set[tuple[str, str, str]] = set()

    async def check(self, response: Any, method: str, path: str) -> Any:
        """The status is documented, the media type and headers are, and a JSON body matches
        its schema. Returns the body (parsed JSON, else text)."""
        operation = self.spec["paths"][path][method]
        status = str(response.status)
        where = f"{method.upper()} {path} -> {status}"
        assert status in operation["responses"], f"{where}: undocumented status"
        documented = deref(self.spec, operation["responses"][status])
        headers = documented.get("headers", {})
        for name in headers:
            if name.startswith("X-TAXII-Date-Added"):
                continue
            assert name in response.headers, f"{where}: no {name} header"
        self.checked.add((method, path, status))
        text = await response.text()
        content = documented.get("content")
        if not content:
            assert text == "", where
            return text
        media = response.headers.get("Content-Type", "").replace(" ", "").lower()
        declared = {m.replace(" ", "").lower(): v for m, v in content.items()}
        if media not in declared:  # a charset the spec leaves out (application/json)
            media = re.sub(r";charset=utf-8$", "", media)
        assert media in declared, f"{where}: Content-Type {media!r} not in {list(declared)}"
        if "json" not in media:
            return text
        body = json.loads(text)
        errors = self.checker.errors(declared[media]["schema"], body)
        assert not errors, f"{where}: {errors}"
        for name in ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last"):
            if name in response.headers:
                assert name in headers, f"{where}: {name} undocumented"
        return body


@pytest.fixture
def member(make_member: Any) -> Any:
    """Made by the admin CLI, which runs its own event loop: before the test's loop starts."""
    return make_member()


async def test_answers_conform_to_the_spec(
    spec: dict[str, Any], aiohttp_client: Any, db_url: str, member: Any
) -> None:
    conform = Conformance(spec)
    app: web.Application = create_app(Settings(db=db_url))
    client = await aiohttp_client(app)
    auth = {"Authorization": f"Bearer {member.token}"}
    taxii = {"Accept": TAXII}
    posting = {**auth, **taxii, "Content-Type": TAXII}
    root = "/api/v1/"
    coll = root + "collections/{collection}/"
    obj_path = coll + "objects/{object_id}/"

    async def check(method: str, path: str, url: str, **kwargs: Any) -> Any:
        response = await client.request(method.upper(), url, **kwargs)
        return await conform.check(response, method, path)

    # anonymous
    await check("get", "/taxii2/", "/taxii2/", headers=taxii)
    await check("get", root, root, headers=taxii)
    listed = await check("get", root + "collections/", root + "collections/", headers=taxii)
    assert [c["alias"] for c in listed["collections"]] == ["public"]
    await check("get", coll, root + "collections/public/", headers=taxii)
    await check("get", coll + "objects/", root + "collections/public/objects/")
    await check("get", coll + "manifest/", root + "collections/public/manifest/")
    await check("get", coll, root + "collections/bulletins/")  # 401
    await check("get", coll, root + "collections/nothing/")  # 404
    await check("get", root + "keys/", root + "keys/")  # 401
    await check("get", root + "whoami/", root + "whoami/")  # 401
    await check("get", root + "deliveries/", root + "deliveries/?id=x")  # 401
    await check("get", root + "status/{status_id}/", root + "status/x/")  # 401
    await check("get", "/taxii2/", "/taxii2/", headers={"Accept": "text/html"})  # 406
    await check("get", "/taxii2/", "/taxii2/", headers={"Authorization": "Bearer nope"})  # 401
    await check(
        "post",
        coll + "objects/",
        root + "collections/public/objects/",
        headers={"Content-Type": TAXII},
        data=b'{"objects": []}',
    )  # 403
    await check("get", "/healthz", "/healthz")
    await check("get", "/readyz", "/readyz")
    await check("get", "/metrics", "/metrics")
    await check("get", "/healthz", "/healthz", headers={"Authorization": "Bearer nope"})  # 401

    # a member posts, reads and withdraws
    signed = member.sign(indicator("clear"))
    unsigned = indicator("green", created_by_ref=member.identity)
    envelope = json.dumps({"objects": [signed, unsigned]})
    bulletins = root + "collections/bulletins/"
    status = await check(
        "post", coll + "objects/", bulletins + "objects/", headers=posting, data=envelope
    )
    assert status["success_count"] == 1 and status["failure_count"] == 1, status
    await check("get", root + "status/{status_id}/", f"{root}status/{status['id']}/", headers=auth)
    await check("get", root + "status/{status_id}/", root + "status/nothing/", headers=auth)
    listed = await check("get", root + "collections/", root + "collections/", headers=auth)
    assert {c["alias"] for c in listed["collections"]} == {"bulletins", "public"}
    await check("get", coll, bulletins, headers=auth)
    await check("get", root + "whoami/", root + "whoami/", headers=auth)
    page = await check(
        "get", coll + "objects/", bulletins + "objects/?match[type]=indicator", headers=auth
    )
    assert [o["id"] for o in page["objects"]] == [signed["id"]]
    await check("get", coll + "objects/", bulletins + "objects/?limit=0", headers=auth)  # 400
    await check("get", coll + "manifest/", bulletins + "manifest/", headers=auth)
    await check("get", obj_path, f"{bulletins}objects/{signed['id']}/", headers=auth)
    await check(
        "get", obj_path + "versions/", f"{bulletins}objects/{signed['id']}/versions/", headers=auth
    )
    await check(
        "get",
        obj_path + "versions/",  # 400: a filter versions does not take
        f"{bulletins}objects/{signed['id']}/versions/?match[type]=indicator",
        headers=auth,
    )
    await check("get", obj_path, f"{bulletins}objects/{unsigned['id']}/", headers=auth)  # 404
    await check("get", root + "keys/", root + "keys/", headers=auth)
    await check("get", root + "deliveries/", f"{root}deliveries/?id={signed['id']}", headers=auth)
    await check("get", root + "deliveries/", root + "deliveries/", headers=auth)  # 400
    await check(
        "post",
        coll + "objects/",
        bulletins + "objects/",
        headers={**auth, "Content-Type": "application/json"},
        data=envelope,
    )  # 415
    await check(
        "post", coll + "objects/", bulletins + "objects/", headers=posting, data=b"[1, 2]"
    )  # 422
    await check(
        "post", coll + "objects/", bulletins + "objects/", headers=posting, data=b'{"objects": ['
    )  # 400

    # the event stream: its first block, then hang up
    response = await client.get(bulletins + "events/?from=start", headers=auth)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert "X-Request-ID" in response.headers
    async with asyncio.timeout(5):
        first = await response.content.readuntil(b"\n\n")
    assert first.startswith(b"retry: ")
    response.close()
    conform.checked.add(("get", coll + "events/", "200"))
    await check(
        "get", coll + "events/", bulletins + "events/?match[version]=all", headers=auth
    )  # 400
    await check(
        "get",
        coll + "events/",
        bulletins + "events/",
        headers={**auth, "Accept": "application/json"},
    )  # 406

    # the transparency log
    log = root + "log/"
    head = await check("get", log, log, headers=auth)
    await check("get", log, log)  # 401
    await check("get", log + "key/", log + "key/", headers=auth)
    await check("get", log + "checkpoint", log + "checkpoint", headers=auth)
    await check("get", log + "checkpoint", log + "checkpoint")  # 401
    version = signed["modified"]
    await check(
        "get",
        log + "inclusion/",
        f"{log}inclusion/?id={signed['id']}&version={version}&tree_size={head['tree_size']}",
        headers=auth,
    )
    await check(
        "get",
        log + "inclusion/",
        f"{log}inclusion/?id={unsigned['id']}&version={version}&tree_size={head['tree_size']}",
        headers=auth,
    )  # 404
    await check(
        "get", log + "inclusion/", f"{log}inclusion/?id=x&version=y&tree_size=z", headers=auth
    )  # 400
    await check(
        "get",
        log + "consistency/",
        f"{log}consistency/?first=1&second={head['tree_size']}",
        headers=auth,
    )
    await check(
        "get", log + "consistency/", f"{log}consistency/?first=2&second=1", headers=auth
    )  # 400
    many = {"tree_size": head["tree_size"], "objects": [{"id": signed["id"], "version": version}]}
    await check(
        "post",
        log + "inclusions/",
        log + "inclusions/",
        headers={**auth, "Content-Type": "application/json"},
        data=json.dumps(many),
    )
    await check(
        "post",
        log + "inclusions/",
        log + "inclusions/",
        headers={**auth, "Content-Type": "application/json"},
        data=json.dumps({"objects": 1}),
    )  # 400
    proofs = root + "federation/proofs/"
    await check("get", proofs, f"{proofs}?id={signed['id']}&version={version}", headers=auth)
    await check("get", proofs, f"{proofs}?id={unsigned['id']}&version={version}", headers=auth)
    await check("get", proofs, f"{proofs}?id=x", headers=auth)  # 400
    heads = root + "federation/heads/"
    assert (await check("get", heads, heads, headers=auth)) == {"heads": []}
    await check("get", heads, heads)  # 401
    part = {k: head[k] for k in ("tree_size", "root_hash", "timestamp", "key_id")}
    cosig = {
        "tree_size": head["tree_size"],
        "root_hash": head["root_hash"],
        "key_id": member.key.public.key_id,
        "signature": sign_json(member.key, part),
    }
    await check(
        "post",
        log + "cosignatures/",
        log + "cosignatures/",
        headers={**auth, "Content-Type": "application/json"},
        data=json.dumps(cosig),
    )
    await check(
        "post",
        log + "cosignatures/",
        log + "cosignatures/",
        headers={**auth, "Content-Type": "application/json"},
        data=json.dumps({**cosig, "tree_size": 1}),
    )  # 400
    head = await check("get", log, log, headers=auth)
    assert len(head["cosignatures"]) == 1

    await check("delete", obj_path, f"{bulletins}objects/{signed['id']}/", headers=auth)
    await check("delete", obj_path, f"{bulletins}objects/{signed['id']}/", headers=auth)  # 404

    # the public pages and feeds (docs/bulletins.md)
    now = signed["created"]
    bulletin = member.sign(
        {
            "type": "report",
            "spec_version": "2.1",
            "id": "report--4c3b2a19-0f6e-4d5c-8b7a-6e5d4c3b2a19",
            "created": now,
            "modified": now,
            "published": now,
            "name": "Public advice",
            "report_types": ["threat-report"],
            "object_refs": [signed["id"]],
            "object_marking_refs": [signed["object_marking_refs"][0]],
        }
    )
    status = await check(
        "post",
        coll + "objects/",
        bulletins + "objects/",
        headers=posting,
        data=json.dumps({"objects": [bulletin]}),
    )
    assert status["success_count"] == 1, status
    await check("get", "/", "/")
    await check("get", "/", "/?q=advice&type=threat-report&page=2")
    await check("get", "/bulletins/{report_id}", f"/bulletins/{bulletin['id']}")
    await check("get", "/bulletins/{report_id}", "/bulletins/report--nothing")  # 404
    await check("get", "/feeds/atom.xml", "/feeds/atom.xml")
    feed = await client.get("/feeds/feed.json")
    await check("get", "/feeds/feed.json", "/feeds/feed.json")
    await check(
        "get",
        "/feeds/feed.json",
        "/feeds/feed.json",
        headers={"If-None-Match": feed.headers["ETag"]},
    )  # 304
    await check("get", "/static/public.css", "/static/public.css")

    # every path was exercised at least once
    assert {p for _, p, _ in conform.checked} == set(spec["paths"])
