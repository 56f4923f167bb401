"""A deployment's processes name each Pub/Sub channel alike whether they hold its Redis URL or a client made
from it (the web chat names its channel from ``REDIS_URL``; the desk, the phone lines and the demo carrier from
their clients): a publisher and a subscriber that disagreed would never hear each other."""
from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis

from bot.redis_channels import deployment_channel


@pytest.mark.parametrize("url, database", [
    ("redis://127.0.0.1:6379/2", 2), ("redis://:secret@redis.internal:6380/15", 15), ("rediss://redis.internal/3", 3),
    ("redis://127.0.0.1:6379", 0), ("redis://127.0.0.1:6379/", 0), ("unix:///run/redis/redis.sock?db=4", 4),
    ("unix:///run/redis/redis.sock", 0)])
def test_a_url_and_the_clients_made_from_it_name_the_same_channel(url, database):
    named = {deployment_channel("kefu:test", url), deployment_channel("kefu:test", redis.Redis.from_url(url)),
             deployment_channel("kefu:test", aioredis.Redis.from_url(url))}
    assert named == {f"kefu:test:db{database}"}
