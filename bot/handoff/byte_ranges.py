"""HTTP range requests (RFC 9110 §14) for audio the desk serves from memory (bytes from the database).

Safari and iOS play an ``<audio>`` only from a server that answers ``Range`` with 206 Partial Content,
and seeking needs it in every browser. Sanic's own ``ContentRangeHandler`` (21.12) is made for files and
gets edge cases wrong for this (``bytes=0-0`` refused, an end past the size not clamped, a start past
it not refused), so this small parser does it: one range (a list of several is answered with the whole
body, as the RFC allows), ``bytes=a-b``, ``bytes=a-``, ``bytes=-n``; 416 with ``Content-Range: */size``
when nothing of the range is in the body.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sanic import response
from sanic.response import HTTPResponse

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
PROBE_BYTES = 2  # Safari's first request for a media file: ``bytes=0-1``


@dataclass(frozen=True)
class Asked:
    """A single byte range as asked for, before the body's size is known: ``start``-``end`` inclusive,
    ``end`` None for "to the end"; ``suffix`` for the last ``suffix`` bytes (``bytes=-n``)."""

    start: int | None
    end: int | None
    suffix: int | None = None

    @property
    def starts_playback(self) -> bool:
        """From the first byte, and more than Safari's two-byte probe: a player starting (again) from the
        beginning, not the continuation or a seek of a playback already under way."""
        return self.start == 0 and (self.end is None or self.end + 1 > PROBE_BYTES)


def asked_range(header: str | None) -> Asked | None:
    """The single range a ``Range`` header asks for; None for no header, another unit, several ranges
    or a malformed one (all answered with the whole body, 200)."""
    match = _SINGLE.match(header or "")
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        return Asked(None, None, suffix=int(last))
    start, end = int(first), (int(last) if last else None)
    if end is not None and end < start:
        return None  # invalid syntax: the RFC says to ignore the header
    return Asked(start, end)


def starts_playback(header: str | None) -> bool:
    """Whether a request with this ``Range`` header (or none) is a new playback of the recording."""
    asked = asked_range(header)
    return asked is None or asked.starts_playback


def ranged(body: bytes, range_header: str | None, *, content_type: str, headers: dict | None = None) -> HTTPResponse:
    """``body`` as the answer to a GET with ``range_header``: 200 whole, 206 a part, or 416."""
    headers = {**(headers or {}), "Accept-Ranges": "bytes"}
    total = len(body)
    asked = asked_range(range_header)
    if asked is None:
        return response.raw(body, content_type=content_type, headers=headers)
    if asked.suffix is not None:
        start, end = max(total - asked.suffix, 0), total - 1
        satisfiable = asked.suffix > 0 and total > 0
    else:
        start, end = asked.start, min(asked.end if asked.end is not None else total - 1, total - 1)
        satisfiable = start < total
    if not satisfiable:
        return response.raw(b"", status=416, content_type=content_type,
                            headers={**headers, "Content-Range": f"bytes */{total}"})
    return response.raw(body[start:end + 1], status=206, content_type=content_type,
                        headers={**headers, "Content-Range": f"bytes {start}-{end}/{total}"})
