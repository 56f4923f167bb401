"""When the agents are next in, from the hotline's hours (``business_hours`` in content/ivr.yml), and what a
customer queued with nobody online hears: outside those hours, when the agents are back (``utter_queue_after_hours``),
not that they may keep waiting (found in a live trial: a chat handed over at night was told "您也可以继续等待")."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

logger = logging.getLogger(__name__)


def next_opening(now: datetime, hours=None) -> datetime | None:
    """When the agents are next in (naive UTC; None while open, or with no readable hours). ``hours``: the
    hotline's ``BusinessHours`` the caller already has (the phone's flow), else read from content/ivr.yml."""
    from bot.contacts.callbacks import next_opening as opening_after
    from bot.ivr.config import HotlineConfigSource
    from bot.ivr.errors import HotlineConfigError
    from bot.settings import get_settings

    if hours is None:
        try:
            hours = HotlineConfigSource(get_settings().ivr_config_path).get().hours
        except HotlineConfigError as exc:  # no readable hours: treated as open, as before
            logger.warning("handoff.hours_unknown error=%s", exc)
            return None
    return opening_after(hours, now)


def agents_back_at(now: float) -> str | None:
    """When the agents are back, outside the hotline's hours, in the customer's time as a callback's promise is
    written (``HH:MM`` today, else ``MM-DD HH:MM``): said with ``utter_queue_after_hours`` instead of
    ``utter_queue_nobody_available``. None within the hours."""
    from bot.handoff.waiting_tickets import customers_zone, promised_time

    opening = next_opening(datetime.fromtimestamp(now, timezone.utc))
    if opening is None:
        return None
    return promised_time(opening.replace(tzinfo=timezone.utc).astimezone(customers_zone()), now)
