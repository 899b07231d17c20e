"""Security headers on every response, and the TLS context of ``exchange serve --tls-cert``.

Every response, errors and streams too, carries:

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY`` and a Content-Security-Policy with ``frame-ancestors 'none'``:
  the HTML pages get the strict page policy (no script at all, styles from this origin only),
  everything else ``default-src 'none'`` (an API answer is never a document to render);
- ``Strict-Transport-Security`` when the exchange serves TLS itself or its ``public_url``
  is https;
- ``Cache-Control: no-store`` when the request carried credentials (what a member reads
  is the member's own, and no cache on the way may keep it).
"""

from __future__ import annotations

import ssl

from aiohttp import web

from exchange.config import Settings
from exchange.errors import InvalidInput
from exchange.web.keys import SETTINGS

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
EVERY_RESPONSE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
PAGE_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
HSTS = "max-age=31536000"
PAGE_PREFIXES = ("/bulletins/", "/feeds/", "/static/")


def is_page(path: str) -> bool:
    """The public pages, feeds and stylesheet (exchange.web.public)."""
    return path == "/" or path.startswith(PAGE_PREFIXES)


def https(settings: Settings) -> bool:
    return settings.tls or (settings.public_url or "").lower().startswith("https://")


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(_security_headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    for name, value in EVERY_RESPONSE.items():
        headers.setdefault(name, value)
    if is_page(request.path):
        headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        for name, value in PAGE_HEADERS.items():
            headers.setdefault(name, value)
    else:
        headers.setdefault("Content-Security-Policy", API_POLICY)
    if https(request.app[SETTINGS]):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if "Authorization" in request.headers:
        headers["Cache-Control"] = "no-store"


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 at least, Python's secure defaults otherwise), or
    None without ``tls_cert``. A file that cannot be read or does not hold a matching
    certificate and key is InvalidInput: one line from ``exchange serve``."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except ssl.SSLError as exc:  # an OSError too: first
        raise InvalidInput(
            f"--tls-cert and --tls-key do not hold a PEM certificate and its key ({exc.reason})"
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"cannot read TLS file {exc.filename or settings.tls_cert}: {exc.strerror or exc}"
        ) from exc
    return context
