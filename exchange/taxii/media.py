"""TAXII 2.1 media types and content negotiation."""

from __future__ import annotations

from exchange.errors import NotAcceptable, UnsupportedMediaType

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
_ACCEPTED_TAXII = {"application/taxii+json", "application/taxii+json;version=2.1"}
_ANY = {"*/*", "application/*", "application/json"}


def _media_types(header: str) -> list[tuple[str, float]]:
    """Each media range of a header with its ``q``; of its parameters only ``version`` is
    kept (others, such as ``charset=utf-8``, are accepted and ignored)."""
    out = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";") if p.strip()]
        if not pieces:
            continue
        main = pieces[0].lower()
        params = []
        q = 1.0
        for p in pieces[1:]:
            name, _, value = p.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif name == "version":
                params.append(f"{name}={value}")
        out.append((";".join([main, *params]), q))
    return out


def check_accept(header: str | None) -> None:
    """Accept must allow TAXII 2.1 JSON (a bare ``application/taxii+json`` does)."""
    if not header:
        return
    for media, q in _media_types(header):
        if q > 0 and (media in _ACCEPTED_TAXII or media in _ANY):
            return
    raise NotAcceptable(f"cannot answer with {header!r}: the exchange serves {TAXII}")


def accepts_event_stream(header: str | None) -> bool:
    if not header:
        return True
    return any(
        q > 0 and media in ("text/event-stream", "*/*", "text/*")
        for media, q in _media_types(header)
    )


def check_content_type(header: str | None) -> None:
    if not header:
        raise UnsupportedMediaType(f"a request body needs Content-Type: {TAXII}")
    media = _media_types(header)
    if not media or media[0][0] not in _ACCEPTED_TAXII:
        raise UnsupportedMediaType(f"Content-Type {header!r} is not accepted; send {TAXII}")
