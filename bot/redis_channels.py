"""Redis Pub/Sub channel names of one deployment: every channel Kefu publishes or subscribes on goes through here.

Pub/Sub channels are the Redis server's, not a database's: two deployments sharing one Redis server on
different databases (``REDIS_URL`` ``…/1`` and ``…/2``: production and staging, two tenants) heard each
other's web-chat broadcasts, desk notices, phone-line messages and demo-carrier rings. Each channel is named
after the database number of the deployment's Redis (``<base>:db<N>``), which all its processes share, so
publisher and subscriber agree by construction and deployments on other databases never meet.
"""
from __future__ import annotations

from typing import Any

from redis.connection import parse_url


def database_of(redis_url_or_client: Any) -> int:
    """The database number of a Redis URL (``/2``, ``?db=2`` for ``unix://``) or of a redis-py client (sync or
    asyncio) made from one; 0 when none is given, as Redis does."""
    if isinstance(redis_url_or_client, str):
        return int(parse_url(redis_url_or_client).get("db") or 0)
    return int(redis_url_or_client.connection_pool.connection_kwargs.get("db") or 0)


def deployment_channel(base: str, redis_url_or_client: Any) -> str:
    """``base`` as the deployment on ``redis_url_or_client`` names it: ``<base>:db<N>``. A channel per
    conversation or call appends its id after this (``<base>:db<N>:<id>``), so a pattern ``<base>:db<N>:*``
    matches one deployment's."""
    return f"{base}:db{database_of(redis_url_or_client)}"
