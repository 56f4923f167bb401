"""A Redis server of a test module's own, for faults that stop the whole server (``CLIENT PAUSE``).

``CLIENT PAUSE`` makes the server answer nobody, not only the test's clients: on CI's shared
redis-server it stalled the stacks the other test process was using (a phone call there ended in
``technical_problem``). A module that pauses Redis imports this ``redis_url``, which overrides the shared
one for its tests and the fixtures they use.
"""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    from bot.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("paused-redis")).start()
    yield server.url
    server.stop()
