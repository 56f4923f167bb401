"""Drain the outbox: deliver pending messages through the adapter for their channel."""
from __future__ import annotations

import asyncio
import logging
import sys

from bot.db.repository import Repository
from bot.notify import Notifier, NotifyError

logger = logging.getLogger(__name__)


async def deliver_pending(repository: Repository, adapters: dict[str, Notifier], limit: int = 100) -> dict[str, int]:
    """One pass; returns counts by result. Failed messages are marked ``failed`` for a person.

    Several workers (one per ``kefu run`` machine) may drain at once: each message is claimed
    before it is sent, so exactly one of them delivers it.
    """
    from bot.dispatch.events import CHANNEL as TICKET_EVENTS  # delivered by bot/dispatch/delivery.py, with retries

    counts = {"sent": 0, "failed": 0, "skipped": 0}
    for row in await asyncio.to_thread(repository.outbound, status="pending", limit=limit, not_channels=(TICKET_EVENTS,)):
        adapter = adapters.get(row["channel"])
        if adapter is None:
            counts["skipped"] += 1
            continue
        if not await asyncio.to_thread(repository.claim_outbound, row["id"]):
            continue  # another worker took it
        payload = dict(row["payload"] or {})
        payload.setdefault("kind", row["kind"])
        payload.setdefault("client_ref", f"outbox-{row['id']}")
        try:
            await adapter.send(row["recipient"], payload)
            status = "sent"
        except NotifyError as exc:
            logger.warning("notify.outbox.failed id=%s channel=%s error=%s", row["id"], row["channel"], exc)
            status = "failed"
        await asyncio.to_thread(repository.mark_outbound, row["id"], status)
        counts[status] += 1
    return counts


def adapters_from_settings(settings) -> dict[str, Notifier]:
    """The delivery adapters this deployment has settings for (none: messages stay pending)."""
    from bot.outbound.rest_callback import RestCallback
    from bot.outbound.sms import SmsGateway

    adapters: dict[str, Notifier] = {}
    if settings.sms_gateway_url and settings.sms_gateway_key:
        adapters["sms"] = SmsGateway.from_settings(settings)
    if settings.rest_callback_url:  # without its secret: NotifyError, for `kefu run` to report
        adapters["rest"] = RestCallback.from_settings(settings)
    return adapters


def warn_if_no_sms_gateway(settings) -> None:
    """`kefu run` says so when no SMS gateway is set up: verification codes, ticket notices and texted
    reminders then wait in the outbox as `pending`, and customers never get them — found by an
    integrator, whose Kefu started silently. Not for the demo customers (KEFU_DEMO_DATA), whose numbers
    are fictitious; never a reason to refuse to start (chat, phone and the desk work without it)."""
    if (settings.sms_gateway_url and settings.sms_gateway_key) or settings.demo_data_wanted:
        return
    missing = "KEFU_SMS_GATEWAY_KEY" if settings.sms_gateway_url else "KEFU_SMS_GATEWAY_URL"
    print(f"kefu: warning: no SMS gateway ({missing} is not set): verification codes, ticket notices and "
          "reminders by SMS stay pending in the outbox and reach nobody (README, Connecting your systems)",
          file=sys.stderr, flush=True)


def deliver_forever(settings, stop, interval_s: float = 5.0) -> None:
    """Thread body for `kefu run`: drain the outbox every few seconds until ``stop`` is set."""
    from bot.dispatch.delivery import deliver_ticket_events, ticket_events_from_settings

    adapters = adapters_from_settings(settings)
    ticket_events = ticket_events_from_settings(settings)
    if not adapters and ticket_events is None:
        logger.info("notify.outbox.idle reason=no_gateway_configured")
        return
    repository = Repository(settings.database_url)
    while not stop.wait(interval_s):
        try:
            if adapters:
                asyncio.run(deliver_pending(repository, adapters))
            if ticket_events is not None:
                asyncio.run(deliver_ticket_events(repository, ticket_events))
        except Exception:  # noqa: BLE001 - keep delivering on the next pass
            logger.exception("notify.outbox.pass_failed")
