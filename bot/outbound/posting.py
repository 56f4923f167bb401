"""One POST to a channel's HTTP API (the SMS gateway, WeChat), its failure told apart as
:mod:`bot.notify` says: no connection made (nothing sent) or no answer once the request was on its way
(the channel may have the message)."""
from __future__ import annotations

import asyncio

import aiohttp

from bot.notify import Unreachable


async def post_json(url: str, *, api: str, timeout_s: float, **request) -> tuple[int, object]:
    """The HTTP status and the JSON body (None when it is none: a proxy's HTML page — the status then
    decides) of ``POST url`` with aiohttp's ``request`` arguments; ``Unreachable`` naming ``api`` when no
    answer came, ``sent_nothing`` when no connection was made."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            async with http.post(url, **request) as answer:
                status = answer.status
                try:
                    reply = await answer.json(content_type=None)
                except ValueError:
                    reply = None
    except aiohttp.ClientConnectorError as exc:
        raise Unreachable(f"{api} unreachable: {type(exc).__name__}", sent_nothing=True) from exc
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise Unreachable(f"{api} unreachable: {type(exc).__name__}") from exc
    return status, reply
