"""The error middleware: domain errors become TAXII error bodies; anything else is a generic
500 whose text never reaches the client."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange import errors
from exchange.web.middleware import request_context


def app_raising(exc: BaseException) -> web.Application:
    async def handler(_request: web.Request) -> web.Response:
        raise exc

    app = web.Application(middlewares=[request_context])
    app.router.add_get("/boom", handler)
    return app


async def test_unknown_exception_is_a_generic_500(aiohttp_client: Any) -> None:
    client = await aiohttp_client(app_raising(RuntimeError("database password is hunter2")))
    response = await client.get("/boom")
    assert response.status == 500
    text = await response.text()
    assert "hunter2" not in text
    body = await response.json(content_type=None)
    assert body["http_status"] == "500"
    assert body["error_id"] == response.headers["X-Request-ID"]
    assert response.headers["Content-Type"] == "application/taxii+json;version=2.1"


async def test_domain_errors_map_to_statuses(aiohttp_client: Any) -> None:
    cases = [
        (errors.InvalidInput("bad"), 400),
        (errors.NotAuthenticated("who"), 401),
        (errors.PermissionDenied("no"), 403),
        (errors.NotFound("none"), 404),
        (errors.NotAcceptable("accept"), 406),
        (errors.UnsupportedMediaType("ct"), 415),
        (errors.Unprocessable("what"), 422),
        (errors.StoreUnavailable("down"), 503),
    ]
    for exc, status in cases:
        client = await aiohttp_client(app_raising(exc))
        response = await client.get("/boom")
        assert response.status == status
        body = await response.json(content_type=None)
        assert body["http_status"] == str(status)
        assert body["description"] == exc.message
        if status == 401:
            assert "Bearer" in response.headers["WWW-Authenticate"]


async def test_unknown_route_is_a_taxii_404(aiohttp_client: Any) -> None:
    client = await aiohttp_client(app_raising(RuntimeError()))
    response = await client.get("/nothing-here")
    assert response.status == 404
    body = await response.json(content_type=None)
    assert body["http_status"] == "404"
