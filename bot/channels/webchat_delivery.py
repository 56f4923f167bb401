"""Exactly-once delivery of the chat page's messages: acknowledged, and de-duplicated in Redis.

Socket.IO on its own delivers *at most once*: "if the connection is broken while an event is being
sent, then there is no guarantee that the other side has received it and there will be no retry upon
reconnection" (https://socket.io/docs/v4/delivery-guarantees/). On a phone that is a lift or a metro
tunnel: the page wrote the message into a connection the server had already closed, and it was lost
without a sign (mobile tester, finding 1). Socket.IO's own answer is *at least once* — the client
retries until the server acknowledges (the ack callback; socket.io-client's ``retries`` /
``ackTimeout`` options do the same in memory) — made *exactly once* by the server recognising a
message it has already taken (the docs' tutorial, "Client delivery" and "Server delivery",
https://socket.io/docs/v4/tutorial/step-8).

So each message the page sends carries a client-generated ``client_id``; the page keeps it (in
sessionStorage, so a reload does not lose it either) until the server acknowledges it, and sends it
again after every reconnect. The server acknowledges through Socket.IO's ack (python-socketio sends
the handler's return value: "the client can provide a list of return values that are to be passed
on to the callback function ... simply by returning the desired values from the handler function")
once the message is accepted, and takes each (conversation, client id) once: a ``SET NX`` with a
TTL in Redis, so any of several server processes recognises a resend the first one took. That
``SET NX`` is made together with the message's in-flight record (``webchat_inflight``): a process
that dies after the ack leaves the message to another one, not lost behind "duplicate".
"""
from __future__ import annotations

import re
from typing import Any, Optional

import redis.asyncio as redis

# Long enough for any reconnect a customer would wait for; a day's keys of a busy service stay small.
DELIVERED_TTL_S = 24 * 3600
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def client_id_of(data: Any) -> Optional[str]:
    """The message's client id if it has a well-formed one (older widgets send none: no de-duplication)."""
    value = data.get("client_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and CLIENT_ID.match(value) else None


def delivered_key(session_id: str, client_id: str) -> str:
    return f"kefu:webchat:delivered:{session_id}:{client_id}"


async def forget_delivery(client: redis.Redis, session_id: str, client_id: str) -> None:
    """The message was not taken after all (it could not be handed on): a resend must go through."""
    await client.delete(delivered_key(session_id, client_id))
