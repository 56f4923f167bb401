"""Whether a secret a client offers (a bearer token, a header's shared secret) is the expected one.

In constant time, and as bytes: Sanic keeps header bytes that are not UTF-8 as surrogates, on which
``str.encode()`` raises, and ``hmac.compare_digest`` raises on text with non-ASCII characters; either
made any client's odd header a 500 with a logged traceback instead of a refusal (found in review).
Every lone surrogate is encoded (``surrogatepass``), not only Sanic's (``surrogateescape`` covers
U+DC80-U+DCFF): JSON may hold any (``"\\ud800"`` as a media stream's ``kefuTrunkToken``). Text with one
is never the expected secret, which is proper text.
"""
from __future__ import annotations

import hmac


def is_secret(offered: str, expected: str) -> bool:
    """True when ``offered`` is ``expected`` (never for an empty ``expected``)."""
    return bool(expected) and hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), expected.encode())
