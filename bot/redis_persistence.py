"""Does the external Redis keep what Kefu stores in it across a restart?

Conversations (trackers), the handoff queue, agents' desk sessions and verification codes live in
Redis. The embedded Redis is started with an append-only file; an external one (``REDIS_URL``) is
whatever the operator set up, and a Redis without persistence loses all of it on a restart or
failover (found by a deployer: every waiting and served customer dropped at once, while the README
promised they survive). ``kefu run`` therefore looks before it starts:

- append-only file on: fine;
- RDB snapshots only: a warning (what changed since the last snapshot is lost);
- neither: Kefu refuses to start, unless ``KEFU_ALLOW_VOLATILE_REDIS=on`` says the operator accepts
  the loss (a test system). Refusing, not just warning: the setup looks healthy until the first
  Redis restart at peak, and a start-up message in a service log is easy to miss;
- ``CONFIG`` refused (managed Redis often disables it): a warning that it could not be checked,
  and the requirement;
- Redis unreachable, silent for ``KEFU_REDIS_TIMEOUT_SECONDS``, or refusing the password: Kefu
  refuses to start, with one line naming ``REDIS_URL`` (an on-call test found a mistyped host only
  warned about, and a Kefu started that could answer nothing but apologies). A deploy with a wrong
  setting should fail, as with an unreachable database.

An eviction policy other than ``noeviction`` gets a warning too: under memory pressure Redis would
drop conversations silently instead of refusing writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import redis

REQUIREMENT = ("an external Redis must persist its data: appendonly yes with appendfsync everysec "
               "(on a managed Redis: its persistence/AOF option), and maxmemory-policy noeviction "
               "(README, \"Going live\")")


@dataclass(frozen=True)
class Persistence:
    """What the Redis reported: ``kind`` is aof, snapshots, none, unknown (could not check), read_only
    (a replica), or unreachable (no connection, no answer, or the password refused)."""

    kind: str
    detail: str = ""
    eviction: str = ""


@dataclass
class Verdict:
    refuse: bool = False
    messages: list[str] = field(default_factory=list)


def _config(client: redis.Redis, name: str) -> str:
    value = client.config_get(name).get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def inspect(client: redis.Redis) -> Persistence:
    """Ask the server (CONFIG GET appendonly, save, maxmemory-policy)."""
    try:
        appendonly, save = _config(client, "appendonly"), _config(client, "save").strip()
        eviction = _config(client, "maxmemory-policy")
        replication = client.info("replication")
    except redis.AuthenticationError as exc:  # a ConnectionError too: said first
        return Persistence("unreachable", f"refused the password ({exc})")
    except redis.ResponseError as exc:  # CONFIG disabled or renamed (managed Redis)
        if str(exc).startswith(("NOAUTH", "WRONGPASS")):
            return Persistence("unreachable", f"refused the password ({exc})")
        return Persistence("unknown", f"CONFIG GET refused: {exc}")
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        return Persistence("unreachable", f"is unreachable ({type(exc).__name__}: {exc})")
    except redis.RedisError as exc:
        return Persistence("unknown", f"{type(exc).__name__}: {exc}")
    if replication.get("role") in ("slave", "replica") and _config(client, "replica-read-only") != "no":
        primary = f"{replication.get('master_host', '?')}:{replication.get('master_port', '?')}"
        return Persistence("read_only", f"is a read-only replica of {primary}", eviction)
    if appendonly == "yes":
        return Persistence("aof", "appendonly yes", eviction)
    if save:
        return Persistence("snapshots", f"appendonly no, save \"{save}\"", eviction)
    return Persistence("none", "appendonly no, save \"\"", eviction)


def verdict(found: Persistence, where: str, allow_volatile: bool) -> Verdict:
    result = Verdict()
    if found.kind == "unreachable":
        result.refuse = True
        result.messages.append(f"REDIS_URL: Redis at {where} {found.detail}.")
    elif found.kind == "read_only":  # every turn writes (its tracker, its lock): all would be apologies
        result.refuse = True
        result.messages.append(f"REDIS_URL: Redis at {where} {found.detail}: Kefu writes to it at every turn. "
                               "Point REDIS_URL at the primary (with Sentinel, the address that follows it).")
    elif found.kind == "none":
        if allow_volatile:
            result.messages.append(f"WARNING: Redis at {where} keeps nothing across a restart ({found.detail}); "
                                   "conversations, the handoff queue and desk sessions will be lost then "
                                   "(accepted by KEFU_ALLOW_VOLATILE_REDIS=on).")
        else:
            result.refuse = True
            result.messages.append(f"Redis at {where} keeps nothing across a restart ({found.detail}): a restart "
                                   "would drop every conversation, the handoff queue and all desk sessions. "
                                   f"Turn persistence on ({REQUIREMENT}), or set KEFU_ALLOW_VOLATILE_REDIS=on "
                                   "to accept that loss.")
    elif found.kind == "snapshots":
        result.messages.append(f"WARNING: Redis at {where} has snapshots only ({found.detail}): a restart loses "
                               f"what changed since the last snapshot. {REQUIREMENT}.")
    elif found.kind == "unknown":
        result.messages.append(f"WARNING: could not check the persistence of Redis at {where} ({found.detail}). "
                               f"Check it yourself: {REQUIREMENT}.")
    if found.eviction and found.eviction != "noeviction":
        result.messages.append(f"WARNING: Redis at {where} has maxmemory-policy {found.eviction}: when full it "
                               "drops keys, conversations included; set it to noeviction.")
    return result


def check_external_redis(settings) -> Verdict:
    """The verdict on ``settings.redis.url`` (nothing to say for the embedded Redis)."""
    url = settings.redis.url
    if not url:
        return Verdict()
    from bot.redis_reconnect import timeouts
    from bot.settings import redis_parts

    parts = redis_parts(url)
    where = f"{parts['host']}:{parts['port']}"  # never the URL: it may carry the password
    client = redis.Redis.from_url(url, **timeouts(settings.redis.timeout_s))
    try:
        return verdict(inspect(client), where, settings.allow_volatile_redis)
    finally:
        client.close()
