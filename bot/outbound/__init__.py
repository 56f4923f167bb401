"""Delivery adapters for outbound messages (SMS gateway, WeChat template messages).

They implement :class:`bot.notify.Notifier` — the interface the voice-message pipeline and the
IVR queue messages through (``OutboxNotifier``) — so a worker can drain the outbox into them
(:func:`bot.outbound.worker.deliver_pending`). Kept apart from ``bot/notify.py``, which another
module owns, to avoid turning that module into a package under its author's feet.
"""
