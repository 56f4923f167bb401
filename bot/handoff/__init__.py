"""Human handoff: a Redis queue per skill group, agents, wait estimates and the context packet.

The queue is shared by every channel (the chat bot's ``action_request_human``, the IVR's
"press 0") and lives entirely in Redis, so any process may enqueue or claim and a restart
loses nothing. Outcomes are recorded as conversation events (``handoff_*``) for KPIs.
"""
from bot.handoff.queue import HandoffQueue, HandoffRequest, QueuePosition, queue_from_settings

__all__ = ["HandoffQueue", "HandoffRequest", "QueuePosition", "queue_from_settings"]
