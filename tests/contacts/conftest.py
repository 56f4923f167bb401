"""The contact worker against a real database (SQLite, or PostgreSQL in CI), real Redis and a
loopback telephony API; a hand-driven UTC clock decides what is due and what is quiet hours."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.contacts.dialer import Dialer
from bot.contacts.rules import load_rules
from bot.contacts.worker import ContactWorker
from bot.db.repository import Repository
from bot.ledger.rules import load_rules as load_ledger_rules
from tests.contacts.telephony_loopback import TelephonyLoopback
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures

CUSTOMER_PHONE = "13800000001"  # a demo customer (content/demo/seed.yml) with no arrears


class UtcClock:
    """Naive UTC like the database; starts at 10:00 in Shanghai (02:00 UTC), 24 to 48 hours ahead:
    a one-day follow-up of a ticket resolved now is due, a two-day one is not. (It started "two days
    ahead at 02:00", which is more than 48 hours when the suite runs between 00:00 and 02:00 UTC.)"""

    def __init__(self) -> None:
        now = dt.datetime.utcnow()
        start = (now + dt.timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
        self.now = start if start >= now + dt.timedelta(days=1) else start + dt.timedelta(days=1)

    def __call__(self) -> dt.datetime:
        return self.now

    def set_utc_hour(self, hour: int) -> None:
        self.now = self.now.replace(hour=hour)

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> UtcClock:
    return UtcClock()


@pytest.fixture
def repository(kefu_env) -> Repository:
    repo = Repository(kefu_env.database_url)
    repo.create_schema()
    return repo


@pytest.fixture
async def wechat_template_api():
    """WeChat's template-send endpoint on loopback; yields (what it received: each body with the
    ``access_token`` it came with as ``token``, its base URL)."""
    from aiohttp import web

    from tests.sms_loopback import serving

    sent: list[dict] = []

    async def template_send(request):
        sent.append({"token": request.query["access_token"], **await request.json()})
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(sent)})

    app = web.Application()
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    async with serving(app) as url:
        yield sent, url


@pytest.fixture
async def telephony():
    loopback = await TelephonyLoopback().start()
    yield loopback
    await loopback.stop()


@pytest.fixture
def make_worker(kefu_env, repository, clock, telephony):
    def make(stream_url: str = "ws://127.0.0.1:9/webhooks/ivr/media", **extra) -> ContactWorker:
        dialer = Dialer(telephony.url, telephony.account_sid, telephony.auth_token, "+8657188880000", stream_url)
        return ContactWorker(repository, rules=lambda: load_rules(kefu_env.content_dir / "contacts.yml"),
                             ledger_rules=lambda: load_ledger_rules(kefu_env.content_dir / "ledger.yml"),
                             dialer=dialer, clock=clock, **extra)
    return make


def resolved_repair(repository: Repository, phone: str = CUSTOMER_PHONE) -> str:
    """A fault ticket of a demo customer, acted on and resolved: what schedules a follow-up."""
    customer = repository.find_customer(phone=phone)
    ticket_id = repository.create_ticket(kind="fault", customer_id=customer.id, summary="no signal",
                                         details={"fault_type": "tv"}, channel="webchat")
    repository.move_ticket(ticket_id, "assigned")
    repository.move_ticket(ticket_id, "resolved", note="engineer fixed the cable")
    return ticket_id


def followup_calls(telephony: TelephonyLoopback, phone: str | None = CUSTOMER_PHONE) -> list:
    return [c for c in telephony.calls if c.parameters.get("flow") == "followup" and phone in (None, c.to)]
