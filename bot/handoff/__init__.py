"""Human handoff: one request, one packet, a Redis queue per skill group, agents and delivery.

Every channel asks for a person through :func:`bot.handoff.service.request_handoff` (the chat
bot's ``action_request_human``, the IVR's ``transfer`` node, the voice-message pipeline), which
builds the typed :class:`bot.handoff.packet.HandoffPacket`. The queue lives entirely in Redis,
so any process may enqueue or claim and a restart loses nothing; what an agent says reaches the
customer from any process (see ``bot.handoff.conversations``). Outcomes are recorded as
conversation events (``handoff_*``) for KPIs.
"""
from bot.handoff.queue import HandoffQueue, HandoffRequest, QueuePosition, queue_from_settings

__all__ = ["HandoffQueue", "HandoffRequest", "QueuePosition", "queue_from_settings"]
