"""A Redis lock held by a token: freed only by whoever holds it. A holder that outlived its lease must
not free the lock another process took since (the waiting room's tick, the outcome drainer, the kept
requests' drainer all lock this way)."""

RELEASE_IF_HOLDER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
