"""The largest request body Kefu's Rasa server takes, and a clear 413 for a larger one.

As deploy/nginx.conf's ``client_max_body_size``: no endpoint takes more (WeChat sends a voice message's
id, not its audio). Sanic's own limit is 100 MB, so a few clients reaching Kefu without the proxy could
fill its memory. Over the limit Sanic stops reading the body but still runs the route with an empty
one, which answered as if the client had sent nothing ("the body must be a JSON object"); the
middleware says what is wrong instead.
"""
from __future__ import annotations

import logging

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

REQUEST_MAX_BYTES = 2 * 1024 * 1024  # SANIC_REQUEST_MAX_SIZE overrides it (bot/security/rasa_server.py)


async def refuse_too_large(request: Request) -> HTTPResponse | None:
    declared = request.headers.get("content-length", "")
    limit = request.app.config.REQUEST_MAX_SIZE
    if declared.isdigit() and int(declared) > limit:
        logger.warning("http.body_too_large path=%s bytes=%s", request.path, declared)
        return response.json({"error": f"the body is larger than this server takes ({limit} bytes)"}, status=413)
    return None
