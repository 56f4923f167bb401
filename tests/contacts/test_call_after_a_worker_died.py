"""A worker killed after the carrier took its call, before it recorded the call, must not leave a
claim that lapses back to the schedule: the next pass would dial the customer again at once while
the first call still rings. The attempt is counted before dialling, and times out as not answered."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.schedule import Schedule
from bot.contacts.worker import ContactWorker
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.conftest import followup_calls, resolved_repair
from tests.contacts.telephony_loopback import TelephonyLoopback


@dataclass
class SlowCarrier(TelephonyLoopback):
    """Takes the call at once, answers the API request only when ``answering`` is set."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    answering: asyncio.Event = field(default_factory=asyncio.Event)

    async def create_call(self, request):
        answer = await super().create_call(request)
        self.arrived.set()
        await self.answering.wait()
        return answer


async def test_a_call_whose_worker_died_mid_dial_is_not_dialled_again_at_once(kefu_env, repository, clock):
    carrier = await SlowCarrier().start()
    try:
        def worker() -> ContactWorker:
            dialer = Dialer(carrier.url, carrier.account_sid, carrier.auth_token, "+8657188880000",
                            "ws://127.0.0.1:9/webhooks/ivr/media")
            return ContactWorker(repository, rules=lambda: load_rules(kefu_env.content_dir / "contacts.yml"),
                                 ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                                 dialer=dialer, clock=clock)

        ticket_id = resolved_repair(repository)
        dying = asyncio.create_task(worker().run_pass())
        await asyncio.wait_for(carrier.arrived.wait(), 30)
        dying.cancel()  # killed mid-dial: the phone rings, the schedule never heard the call's id
        await asyncio.gather(dying, return_exceptions=True)
        carrier.answering.set()

        clock.advance(minutes=3)  # the claim's lease is over; the call may still be going on
        await worker().run_pass()
        assert len(followup_calls(carrier)) == 1
        contact = next(c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id)
        assert contact["status"] == "calling" and contact["attempts"] == 1  # counted against the daily limit

        clock.advance(minutes=5)  # past ring and call time: not answered, retried after the first delay
        await worker().run_pass()
        contact = Schedule(repository).get(contact["id"])
        assert (contact["status"], contact["result"]) == ("scheduled", "no_answer")
        assert len(followup_calls(carrier)) == 1
    finally:
        await carrier.stop()
