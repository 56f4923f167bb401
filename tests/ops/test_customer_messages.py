"""Messages to customers that do not go out at once: tried again while they still help, given up where
a person sees them (`kefu outbox`, `kefu_outbox_failed`), and a stuck outbox told from a busy one by
the age of its oldest message (`kefu_outbox_oldest_pending_seconds`).

Before, a single timeout of the SMS gateway marked a text `failed` for good, and nothing counted,
listed or resent it: a verification code or a repair notice was simply lost. A loopback SMS gateway
speaks the documented protocol (README, "SMS gateway"); the database is real (SQLite, PostgreSQL in CI).
"""
from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.cli import main
from bot.db.repository import Repository
from bot.db.schema import outbox
from bot.notify import OutboxNotifier
from bot.outbound.outbox_rows import PAGE
from bot.outbound.sms import SmsGateway
from bot.outbound.worker import GIVE_UP_AFTER, deliver_pending
from bot.observability.state import customer_messages
from tests.sms_loopback import serving


@pytest.fixture
async def gateway():
    """(bodies received, base URL, answers): each send takes the next HTTP status of ``answers`` (200 once
    they run out), and a status of 200 with ``code`` 1002 when the answer is "refuse"."""
    received: list[dict] = []
    answers: list = []

    async def send(request):
        received.append(await request.json())
        answer = answers.pop(0) if answers else 200
        if answer == "refuse":
            return web.json_response({"code": 1002, "message": "content rejected"})
        return web.json_response({"code": 0 if answer == 200 else 9, "message_id": "m"}, status=answer)

    app = web.Application()
    app.router.add_post("/v1/sms/send", send)
    async with serving(app) as base_url:
        yield received, base_url, answers


async def queue_text(kefu_env, kind: str = "ticket_notice", **extra) -> tuple[Repository, int]:
    repository = Repository(kefu_env.database_url)
    await OutboxNotifier.from_settings(kefu_env, repository).send(
        "13800000001", {"channel": "sms", "kind": kind, "text": "您的报修单已受理。", **extra})
    [row] = [r for r in repository.outbound(status="pending", channel="sms", limit=10_000) if r["kind"] == kind]
    return repository, row["id"]


def status_of(repository: Repository, row_id: int) -> str:
    with repository.engine.connect() as conn:
        return conn.execute(sa.select(outbox.c.status).where(outbox.c.id == row_id)).scalar_one()


def listed(capsys, *args: str) -> dict[int, str]:
    assert main(["outbox", "list", *args]) == 0
    rows = re.findall(r"^(\d+) +(sms .*)$", capsys.readouterr().out, flags=re.MULTILINE)
    return {int(row_id): rest for row_id, rest in rows}


async def test_a_gateway_timeout_or_server_error_is_tried_again_with_the_same_client_ref(kefu_env, gateway):
    received, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    now = dt.datetime.utcnow()
    answers.extend([503, 429])

    first = await deliver_pending(repository, sms, now=now)
    too_soon = await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=10))
    second = await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=31))
    third = await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=31 + 61))

    assert (first["retry"], too_soon["waiting"], second["retry"], third["sent"]) == (1, 1, 1, 1)
    assert status_of(repository, row_id) == "sent"
    assert [body["client_ref"] for body in received] == [f"outbox-{row_id}"] * 3  # one message to the gateway
    assert received[-1]["text"] == "您的报修单已受理。" and set(received[-1]) == {"to", "sender", "text", "client_ref"}


async def test_a_refused_message_is_given_up_at_once_listed_counted_and_resent_by_a_person(
        kefu_env, gateway, capsys):
    received, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    answers.append("refuse")

    assert (await deliver_pending(repository, sms))["failed"] == 1
    assert status_of(repository, row_id) == "failed"
    assert customer_messages(repository) == {"backlog": 0, "failed": 1, "oldest_pending_s": 0.0}
    line = listed(capsys, "--failed")[row_id]
    assert "ticket_notice" in line and "*******0001" in line and "13800000001" not in line
    assert "code 1002" in line  # the gateway's reason, for the person deciding

    assert main(["outbox", "resend", str(row_id)]) == 0
    assert (await deliver_pending(repository, sms))["sent"] == 1
    assert len(received) == 2 and status_of(repository, row_id) == "sent"
    assert customer_messages(repository)["failed"] == 0


async def test_a_message_failing_for_an_hour_is_given_up_and_can_be_dropped(kefu_env, gateway, capsys):
    _, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    answers.extend([502] * 20)
    now, passes = dt.datetime.utcnow(), []
    while status_of(repository, row_id) == "pending" and len(passes) < 20:
        passes.append(await deliver_pending(repository, sms, now=now))
        now += dt.timedelta(minutes=10)

    assert status_of(repository, row_id) == "failed"
    assert GIVE_UP_AFTER - dt.timedelta(minutes=10) <= dt.timedelta(minutes=10) * (len(passes) - 1) <= GIVE_UP_AFTER
    assert main(["outbox", "drop", f"outbox-{row_id}"]) == 0
    assert status_of(repository, row_id) == "dropped"
    assert main(["outbox", "resend", str(row_id)]) == 1  # dropped is for good
    assert "it was given up for good" in capsys.readouterr().err


async def test_a_verification_code_is_not_sent_after_it_lapsed_and_cannot_be_resent(kefu_env, gateway, capsys):
    received, base, answers = gateway
    now = dt.datetime.utcnow()
    repository, row_id = await queue_text(kefu_env, kind="verification_code",
                                          send_before=(now + dt.timedelta(minutes=5)).isoformat())
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    answers.append(503)

    assert (await deliver_pending(repository, sms, now=now))["retry"] == 1
    late = await deliver_pending(repository, sms, now=now + dt.timedelta(minutes=6))

    assert late["failed"] == 1 and len(received) == 1  # given up without reaching the gateway again
    with repository.engine.begin() as conn:  # the operator looks after the code lapsed by the wall clock too
        [payload] = conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == row_id)).scalars()
        lapsed = dict(payload, send_before=(dt.datetime.utcnow() - dt.timedelta(seconds=1)).isoformat())
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(payload=lapsed))
    assert main(["outbox", "resend", str(row_id)]) == 1
    assert "the customer asks for a new one" in capsys.readouterr().err


async def test_a_message_left_sending_by_a_killed_worker_goes_out_later(kefu_env, gateway):
    received, base, _ = gateway
    repository, row_id = await queue_text(kefu_env)
    claimed_at = dt.datetime.utcnow()
    with repository.engine.begin() as conn:  # what a worker killed mid-send leaves
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(
            status="sending", payload={"text": "您的报修单已受理。", "claimed_at": claimed_at.isoformat()}))
    sms = {"sms": SmsGateway(base, "k", "Kefu")}

    assert (await deliver_pending(repository, sms, now=claimed_at + dt.timedelta(minutes=1)))["sent"] == 0
    assert (await deliver_pending(repository, sms, now=claimed_at + dt.timedelta(minutes=6)))["sent"] == 1
    assert [body["client_ref"] for body in received] == [f"outbox-{row_id}"]


async def test_the_oldest_waiting_message_s_age_is_measured_by_the_database_s_clock(kefu_env):
    repository, row_id = await queue_text(kefu_env)
    assert customer_messages(repository)["oldest_pending_s"] < 60
    with repository.engine.begin() as conn:  # as if queued ten minutes ago, in whatever zone the column holds
        created = conn.execute(sa.select(outbox.c.created_at).where(outbox.c.id == row_id)).scalar_one()
        conn.execute(outbox.update().where(outbox.c.id == row_id)
                     .values(created_at=created - dt.timedelta(minutes=10)))
    await queue_text(kefu_env, kind="selfhelp")  # a newer one does not hide the oldest
    repository.add_outbound(channel="dispatch", recipient="TK1", kind="ticket_created", payload={})

    found = customer_messages(repository)

    assert found["backlog"] == 2 and found["failed"] == 0  # the ticket event is counted apart
    assert 600 <= found["oldest_pending_s"] < 660


async def test_a_new_text_goes_out_at_once_behind_hundreds_waiting_for_their_retry(kefu_env, gateway):
    """With the first 100 pending rows read each pass, texts waiting for a later retry after a gateway's bad
    minute held every newer one back until their retries came due (up to an hour)."""
    received, base, _ = gateway
    now = dt.datetime.utcnow()
    waiting = {"text": "稍后重试的短信", "attempts": 5, "retry_at": (now + dt.timedelta(minutes=30)).isoformat()}
    repository = Repository(kefu_env.database_url)
    with repository.engine.begin() as conn:
        conn.execute(outbox.insert(), [{"channel": "sms", "recipient": "13800000002", "kind": "ticket_notice",
                                        "payload": waiting, "status": "pending"} for _ in range(PAGE + 1)])
    repository, row_id = await queue_text(kefu_env, kind="verification_code")

    counts = await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")}, now=now)

    assert counts["sent"] == 1 and counts["waiting"] == PAGE + 1
    assert [body["client_ref"] for body in received] == [f"outbox-{row_id}"]
