"""Redis key names of the handoff queue, in one place (all under ``kefu:handoff:``)."""
from __future__ import annotations

PREFIX = "kefu:handoff"


def queue(skill: str) -> str:
    """Sorted set of waiting conversation ids; score = -priority*1e12 + enqueue ms."""
    return f"{PREFIX}:queue:{skill}"


def conversation_prefix() -> str:
    return f"{PREFIX}:conv:"


def conversation(conversation_id: str) -> str:
    """Hash: request (JSON), state, skill, priority, enqueued_at, claimed_at, agent_id, ..."""
    return conversation_prefix() + conversation_id


def agent(agent_id: str) -> str:
    """Hash: name, skills (comma separated), capacity, status."""
    return f"{PREFIX}:agent:{agent_id}"


def agent_active(agent_id: str) -> str:
    """Set of conversation ids the agent is serving now."""
    return f"{PREFIX}:agent:{agent_id}:active"


def agents() -> str:
    """Set of every agent id that has ever signed in to the desk."""
    return f"{PREFIX}:agents"


def presence() -> str:
    """Sorted set agent id -> last time the agent's desk checked in."""
    return f"{PREFIX}:presence"


def handle_times(skill: str) -> str:
    """List of recent handle times in seconds, newest first."""
    return f"{PREFIX}:handle:{skill}"


def handbacks() -> str:
    """Sorted set of conversation ids whose handoff ended (closed, left, abandoned), by when: their hand-back
    to the assistant is owed until it is done (bot.handoff.handback)."""
    return f"{PREFIX}:handbacks"


def closes_owed() -> str:
    """Hash of the agents' closes whose event is not yet recorded, each the whole event's fields as JSON under
    ``<conversation id>|<claimed_at>``: a copy no writer of the record can drop (bot.handoff.queue.CLOSES_OWED)."""
    return f"{PREFIX}:closes_owed"


def joins() -> str:
    """Sorted set of conversation ids an agent claimed, by when: the customer is owed "an agent joined" (the bot
    paused, the words said) until the desk has told them (bot.handoff.joined)."""
    return f"{PREFIX}:joins"


def transfers() -> str:
    """Sorted set of conversation ids a transfer queued again, by when: the rest of the transfer (its events, the
    customer told) is owed until the desk has done it (bot.handoff.transfer_owed)."""
    return f"{PREFIX}:transfers"


def transfer_noted(conversation_id: str, mark: str) -> str:
    """String, set as the ticket of the callback a transfer (``mark``) moved, or its agent's leaving put back in line,
    is noted: once (callback_transferred, callback_requeued; a mark is one or the other)."""
    return f"{PREFIX}:transfer_noted:{conversation_id}:{mark}"


def ticket_notes_owed() -> str:
    """Sorted set of ticket notes (JSON: ticket, note, its once-key) the database has not taken yet, by when last
    tried: written by the waiting room (bot.handoff.notes_owed)."""
    return f"{PREFIX}:ticket_notes_owed"


def claim_request(agent_id: str, request_id: str) -> str:
    """String: the conversation the agent's 接入下一位 with ``request_id`` took, for a while (its retry)."""
    return f"{PREFIX}:agent:{agent_id}:claim:{request_id}"


def session(token_hash: str) -> str:
    return f"{PREFIX}:session:{token_hash}"


def session_requeued(token_hash: str) -> str:
    """Set of the conversations the session's sign-out put back in the queue, until the session is closed: a
    sign-out cut off after putting some back tells its retry (bot.handoff.departures.sign_out)."""
    return f"{PREFIX}:session:{token_hash}:requeued"


def watcher_pass() -> str:
    """String: when the waiting room's last pass began (bot.handoff.watcher)."""
    return f"{PREFIX}:watcher:pass"


def presence_grace() -> str:
    """Hash ``from``, ``until``: after a gap in the waiting room's passes (Redis down, the servers restarting)
    desks that checked in before the gap count as present until ``until`` (bot.handoff.agents.AgentRoster)."""
    return f"{PREFIX}:presence:grace"


def watcher_lock() -> str:
    return f"{PREFIX}:watcher:lock"


def close_filing(conversation_id: str) -> str:
    """String: a desk close of the conversation under way (bot.handoff.close_filing), expiring on its own."""
    return f"{PREFIX}:close_filing:{conversation_id}"
