"""Whether a request comes from this machine: for pages that are local demos or local tools.

The address is Sanic's ``request.ip``, the connecting peer, never a proxy header: behind a reverse
proxy on the same host every client looks local, so such pages must not be proxied.
"""
from __future__ import annotations

import ipaddress

from sanic.request import Request


def from_loopback(request: Request) -> bool:
    try:
        address = ipaddress.ip_address(request.ip)
    except ValueError:  # no peer address (a unix socket) or not an address
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
