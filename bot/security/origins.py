"""Which browser pages are Kefu's own, and whether a request came from another's.

Rasa's CORS (``--cors``, ``bot.security.launch.cors_arguments``) lets Kefu's own origins and those
``KEFU_CORS_ORIGINS`` adds (a site embedding the chat widget) send requests with credentials and read
the answers. Routes that act for a person at a browser (the agent desk, the demo softphone) answer
Kefu's own pages only: a script on one of the added sites could otherwise read them and act there.
"""
from __future__ import annotations

from urllib.parse import urlparse, urlsplit

from sanic.request import Request

from bot.settings import Settings, get_settings


def origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def own_origins(settings: Settings) -> list[str]:
    """Where Kefu's own pages are served: its public address and the Rasa server's."""
    found = [origin(settings.public_url), origin(settings.rasa_url)]
    if settings.host == "127.0.0.1":
        found.append(f"http://localhost:{settings.rasa_port}")
    return list(dict.fromkeys(found))


def from_another_origin(request: Request) -> bool:
    """Whether a browser sent the request from a page of another origin than the server's own.

    A browser names the page's origin (``Origin``) on every cross-origin request and every write; a
    same-origin GET names none. Kefu's own: the address the request was sent to (its ``Host``,
    whatever scheme a TLS proxy hid), or one of :func:`own_origins` (``KEFU_PUBLIC_URL``), never one
    of those ``KEFU_CORS_ORIGINS`` adds for Rasa and the web chat.

    The ``Host`` header itself, which a script cannot set, not Sanic's ``request.host``: trusting a
    proxy (``SANIC_PROXIES_COUNT``) makes that ``X-Forwarded-Host``, which nginx passes on as the
    client wrote it, so a partner site's script named its own host there (found in review)."""
    offered = request.headers.get("origin")
    if offered is None:
        return False
    if offered.lower() in {own.lower() for own in own_origins(get_settings())}:
        return False
    host = request.headers.get("host", "")
    return not host or urlsplit(offered).netloc.lower() != host.lower()
