"""Serve ``/media/...``: the editors' own files first, else rendered ones, with range requests for video."""
from __future__ import annotations

from mimetypes import guess_type
from pathlib import Path

from sanic import Request, response
from sanic.compat import stat_async
from sanic.exceptions import HeaderNotFound, NotFound
from sanic.handlers import ContentRangeHandler

from bot.media import media_file


async def media_response(request: Request, media_dir: Path, path: str) -> response.HTTPResponse:
    file = media_file(media_dir, f"/media/{path}")
    if file is None or not file.is_file():
        raise NotFound("no such media file")
    stats = await stat_async(file)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": guess_type(file.name)[0] or "application/octet-stream",
        "X-Content-Type-Options": "nosniff",
    }
    if request.method == "HEAD":
        return response.HTTPResponse(headers={**headers, "Content-Length": str(stats.st_size)})
    try:
        byte_range = ContentRangeHandler(request, stats)
    except HeaderNotFound:
        byte_range = None
    else:
        headers.update(byte_range.headers)
    return await response.file_stream(file, headers=headers, _range=byte_range)
