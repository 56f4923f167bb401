"""Whether a request comes from this machine: for pages that are local demos or local tools (the
softphone's ring feed and buttons, ``/metrics`` without a token).

The connecting peer (Sanic's ``request.ip``) must be a loopback address, and the request must not
have come through a proxy. A reverse proxy on the same host (``deploy/nginx.conf``) connects from
127.0.0.1 for every client in the world, so a peer address alone is not enough (found by a
deployer: the ring feed, with customers' numbers, answered through nginx). So:

- a request carrying a forwarding header (``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``, the
  header named by ``SANIC_REAL_IP_HEADER``, ``Via``…) was proxied and is not local, whatever address
  the header names (a client can write anything there, the proxy only appends);
- when Sanic is told to trust proxies (``SANIC_PROXIES_COUNT`` …) and found a client address
  (``request.remote_addr``), that address must be loopback too;
- a browser on this machine is no local tool: a page of another site reaches loopback as well, by a
  cross-origin request (``Origin``) or by DNS rebinding (its own name re-pointed at 127.0.0.1, in
  ``Host``), so the request must name this machine (a loopback address, ``localhost``, Kefu's own
  address) and come from no other page (found in review: either read the ring feed and /metrics, or
  ran REST turns).
"""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from sanic.request import Request

from bot.security.offered_secret import is_secret

FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto",
                      "x-forwarded-server", "via")


def _is_loopback(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:  # no peer address (a unix socket) or not an address
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def proxied(request: Request) -> bool:
    """Did a proxy (or a client pretending to be one) hand this request on?"""
    headers = request.headers
    config = getattr(getattr(request, "app", None), "config", None)
    real_ip_header = str(getattr(config, "REAL_IP_HEADER", "") or "").lower()
    return any(name in headers for name in FORWARDING_HEADERS) or bool(real_ip_header and real_ip_header in headers)


def _local_name(host: str) -> bool:
    """Whether a ``Host`` names this machine: a loopback address, ``localhost``, or Kefu's own address."""
    from bot.security.origins import own_origins
    from bot.settings import get_settings

    name = (urlsplit(f"//{host}").hostname or "").lower()
    own = {urlsplit(url).hostname for url in own_origins(get_settings())}
    return _is_loopback(name) or name == "localhost" or name.endswith(".localhost") or name in own


def browser_page_elsewhere(request: Request) -> bool:
    """A page of another site in a browser on this machine: its origin (a cross-origin request, a write)
    or, by DNS rebinding, its own name re-pointed at 127.0.0.1 in ``Host`` (then a GET names no origin)."""
    from bot.security.origins import from_another_origin

    host = request.headers.get("host", "")
    return from_another_origin(request) or bool(host) and not _local_name(host)


def from_loopback(request: Request) -> bool:
    if not _is_loopback(request.ip) or proxied(request) or browser_page_elsewhere(request):
        return False
    client = getattr(request, "remote_addr", "")  # "" unless Sanic trusts a proxy and found the client
    return not client or _is_loopback(client)


def bearer_or_loopback(request: Request, token: str) -> bool:
    """An operator's endpoint: ``Authorization: Bearer <token>`` when a token is set, else this machine only."""
    if not token:
        return from_loopback(request)
    offered = request.headers.get("authorization", "")
    return is_secret(offered, f"Bearer {token}")
