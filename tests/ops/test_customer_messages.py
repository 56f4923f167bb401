"""Messages to customers that do not go out at once: tried again while they still help, given up where
a person sees them (`kefu outbox`, `kefu_outbox_failed`), and a stuck outbox told from a busy one by
the age of its oldest message (`kefu_outbox_oldest_pending_seconds`).

Before, a single timeout of the SMS gateway marked a text `failed` for good, and nothing counted,
listed or resent it: a verification code or a repair notice was simply lost. A loopback SMS gateway
speaks the documented protocol (README, "SMS gateway"); the database is real (SQLite, PostgreSQL in CI).
"""
from __future__ import annotations

import asyncio
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
from bot.outbound.worker import GIVE_UP_AFTER, LAST_TRY_BEFORE, deliver_pending
from bot.observability.state import customer_message_counts
from tests.sms_loopback import serving
from tests.text_channels import OPENID
from tests.text_channels import messenger, text_channels  # noqa: F401  the loopback's fixtures
from tests.handoff.conftest import redis, redis_url  # noqa: F401  the same real Redis fixtures


@pytest.fixture
async def gateway():
    """(bodies received, base URL, answers): each send takes the next HTTP status of ``answers`` (200 once
    they run out), or HTTP 200 with ``code`` 1002 for "refuse" and 1003 (rate limited) for "busy"."""
    received: list[dict] = []
    answers: list = []

    async def send(request):
        received.append(await request.json())
        answer = answers.pop(0) if answers else 200
        if answer in ("refuse", "busy"):
            code, message = (1002, "content rejected") if answer == "refuse" else (1003, "rate limited")
            return web.json_response({"code": code, "message": message})
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

    assert (first["retry"], too_soon["sent"] + too_soon["retry"], second["retry"], third["sent"]) == (1, 0, 1, 1)
    assert status_of(repository, row_id) == "sent"
    assert [body["client_ref"] for body in received] == [f"outbox-{row_id}"] * 3  # one message to the gateway
    assert received[-1]["text"] == "您的报修单已受理。"
    assert set(received[-1]) == {"to", "sender", "text", "client_ref"}  # no bookkeeping sent


async def test_a_refused_message_is_given_up_at_once_listed_counted_and_resent_by_a_person(
        kefu_env, gateway, capsys):
    received, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    answers.append("refuse")

    assert (await deliver_pending(repository, sms))["failed"] == 1
    assert status_of(repository, row_id) == "failed"
    assert customer_message_counts(repository) == {"backlog": 0, "failed": 1, "oldest_pending_s": 0.0}
    line = listed(capsys, "--failed")[row_id]
    assert "ticket_notice" in line and "*******0001" in line and "13800000001" not in line
    assert "code 1002" in line  # the gateway's reason, for the person deciding

    assert main(["outbox", "resend", str(row_id)]) == 0
    assert (await deliver_pending(repository, sms))["sent"] == 1
    assert len(received) == 2 and status_of(repository, row_id) == "sent"
    assert customer_message_counts(repository)["failed"] == 0


def payload_of(repository: Repository, row_id: int) -> dict:
    with repository.engine.connect() as conn:
        return dict(conn.execute(sa.select(outbox.c.payload).where(outbox.c.id == row_id)).scalar_one())


async def tries_until_given_up(repository: Repository, sms: dict, row_id: int, start: dt.datetime) -> list[dt.datetime]:
    """Passes at each retry time the outbox set, until it stops trying: when each attempt was made."""
    tried, now = [], start
    while status_of(repository, row_id) == "pending" and len(tried) < 50:
        counts = await deliver_pending(repository, sms, now=now)
        if counts["waiting"] == 0:
            tried.append(now)
        retry_at = payload_of(repository, row_id).get("retry_at")
        now = dt.datetime.fromisoformat(retry_at) if retry_at else now
    return tried


async def test_a_text_failing_is_tried_for_an_hour_then_given_up_and_can_be_dropped(kefu_env, gateway, capsys):
    received, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    answers.extend([502] * 50)
    start = dt.datetime.utcnow()

    tried = await tries_until_given_up(repository, {"sms": SmsGateway(base, "k", "Kefu")}, row_id, start)

    assert status_of(repository, row_id) == "failed" and len(received) == len(tried)
    assert GIVE_UP_AFTER - 2 * LAST_TRY_BEFORE <= tried[-1] - start <= GIVE_UP_AFTER - LAST_TRY_BEFORE  # in time
    assert all(later - earlier <= dt.timedelta(hours=1) for earlier, later in zip(tried, tried[1:]))
    assert main(["outbox", "drop", f"outbox-{row_id}"]) == 0
    assert status_of(repository, row_id) == "dropped"
    assert main(["outbox", "resend", str(row_id)]) == 1  # dropped is for good
    assert "it was given up for good" in capsys.readouterr().err


async def test_a_verification_code_gets_its_last_try_before_it_lapses_then_is_dropped(kefu_env, gateway):
    received, base, answers = gateway
    start = dt.datetime.utcnow()
    send_before = start + dt.timedelta(minutes=5)
    repository, row_id = await queue_text(kefu_env, kind="verification_code", send_before=send_before.isoformat())
    answers.extend([503] * 50)

    tried = await tries_until_given_up(repository, {"sms": SmsGateway(base, "k", "Kefu")}, row_id, start)

    assert send_before - 2 * LAST_TRY_BEFORE <= tried[-1] <= send_before - LAST_TRY_BEFORE
    assert len(received) == len(tried)
    assert status_of(repository, row_id) == "dropped"  # nobody can send it any more: nobody is paged for it
    assert customer_message_counts(repository)["failed"] == 0


async def test_a_refused_code_cannot_be_resent_once_it_lapsed(kefu_env, gateway, capsys):
    received, base, answers = gateway
    now = dt.datetime.utcnow()
    repository, row_id = await queue_text(kefu_env, kind="verification_code",
                                          send_before=(now + dt.timedelta(seconds=1)).isoformat())
    answers.append("refuse")
    assert (await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")}, now=now))["failed"] == 1
    with repository.engine.begin() as conn:  # the operator looks after the code lapsed
        lapsed = dict(payload_of(repository, row_id), send_before=(now - dt.timedelta(seconds=1)).isoformat())
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(payload=lapsed))

    assert main(["outbox", "resend", "--all-failed"]) == 1
    assert "the customer asks for a new one" in capsys.readouterr().err
    assert status_of(repository, row_id) == "failed" and len(received) == 1


async def test_a_channel_that_does_not_answer_is_asked_once_a_pass_and_a_rate_limit_is_tried_again(kefu_env, gateway):
    repository, first = await queue_text(kefu_env)
    _, second = await queue_text(kefu_env, kind="selfhelp")
    silent = await deliver_pending(repository, {"sms": SmsGateway("http://127.0.0.1:9", "k", "Kefu")})
    assert silent["retry"] == 1 and "attempts" not in payload_of(repository, second)  # not a timeout per text

    received, base, answers = gateway
    answers.append("busy")
    later = dt.datetime.utcnow() + dt.timedelta(minutes=1)
    busy = await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")}, now=later)
    assert busy["retry"] == 1 and busy["sent"] == 1 and status_of(repository, second) == "sent"


async def test_a_stale_page_cannot_send_what_another_machine_put_back_to_wait(kefu_env):
    from bot.outbound.outbox_rows import claim

    repository, row_id = await queue_text(kefu_env)
    now = dt.datetime.utcnow()
    retry_at = (now + dt.timedelta(seconds=30)).isoformat()
    waiting = {"text": "您的报修单已受理。", "attempts": 1, "retry_at": retry_at}
    with repository.engine.begin() as conn:  # meanwhile another machine tried it and got a 429
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(payload=waiting))

    assert claim(repository, row_id, now) is None
    assert status_of(repository, row_id) == "pending" and payload_of(repository, row_id) == waiting
    assert claim(repository, row_id, now + dt.timedelta(seconds=31))["attempts"] == 1


async def test_messages_an_earlier_version_left_behind_are_never_sent_by_themselves(kefu_env, gateway, capsys):
    received, base, _ = gateway
    repository, left_sending = await queue_text(kefu_env)
    _, old_failure = await queue_text(kefu_env, kind="selfhelp")
    with repository.engine.begin() as conn:  # as the version before left them: no bookkeeping, days old
        conn.execute(outbox.update().where(outbox.c.id == left_sending)
                     .values(status="sending", payload={"text": "您的报修单已受理。"}))
        conn.execute(outbox.update().where(outbox.c.id == old_failure)
                     .values(status="failed", payload={"text": "您的报修单已受理。"}))
        for row_id in (left_sending, old_failure):
            created = conn.execute(sa.select(outbox.c.created_at).where(outbox.c.id == row_id)).scalar_one()
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(created_at=created - dt.timedelta(days=3)))

    await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")})

    assert received == [] and status_of(repository, left_sending) == "failed"
    assert main(["outbox", "resend", "--all-failed"]) == 1
    assert capsys.readouterr().err.count("a text that late misleads the customer") == 2
    assert main(["outbox", "drop", "--all-failed"]) == 0
    assert customer_message_counts(repository)["failed"] == 0 and received == []


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
    """On PostgreSQL ``created_at`` holds the session's local time: in a zone 8 hours from UTC an age
    taken against Python's UTC clock would be 8 hours off (SQLite's is UTC, so there any clock agrees)."""
    repository = Repository(kefu_env.database_url)
    if repository.engine.dialect.name == "postgresql":
        with repository.engine.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{repository.engine.url.database}" SET TimeZone = \'Asia/Shanghai\''))
            conn.commit()
        repository.engine.dispose()  # new sessions take the database's zone
    repository, row_id = await queue_text(kefu_env)
    assert customer_message_counts(repository)["oldest_pending_s"] < 60
    with repository.engine.begin() as conn:  # as if queued ten minutes ago, in whatever zone the column holds
        created = conn.execute(sa.select(outbox.c.created_at).where(outbox.c.id == row_id)).scalar_one()
        conn.execute(outbox.update().where(outbox.c.id == row_id)
                     .values(created_at=created - dt.timedelta(minutes=10)))
    await queue_text(kefu_env, kind="selfhelp")  # a newer one does not hide the oldest
    repository.add_outbound(channel="dispatch", recipient="TK1", kind="ticket_created", payload={})

    found = customer_message_counts(repository)

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

    assert counts["sent"] == 1 and counts["retry"] == 0  # the waiting ones were left to their retry time
    assert [body["client_ref"] for body in received] == [f"outbox-{row_id}"]


async def test_texts_queued_while_the_gateway_is_down_are_given_up_after_their_hour_not_sent_late(kefu_env, gateway):
    """One text a pass is tried while the gateway does not answer; the others wait. Their hour counts
    from when they were queued, so when the gateway comes back three hours later none goes out that late."""
    received, base, _ = gateway
    repository, first = await queue_text(kefu_env)
    later = [(await queue_text(kefu_env, kind=f"notice_{n}"))[1] for n in range(3)]
    start = dt.datetime.utcnow()
    down = {"sms": SmsGateway("http://127.0.0.1:9", "k", "Kefu")}
    for minutes in range(0, 180, 20):
        await deliver_pending(repository, down, now=start + dt.timedelta(minutes=minutes))

    back = await deliver_pending(repository, {"sms": SmsGateway(base, "k", "Kefu")}, now=start + dt.timedelta(hours=3))

    assert back["sent"] == 0 and received == []
    assert {status_of(repository, row_id) for row_id in [first, *later]} == {"failed"}


async def test_a_conversations_messages_to_an_integration_arrive_in_order(kefu_env):
    """A REST conversation's later message waits while an earlier one is retried: an agent's "请稍等" must
    not arrive after the answer it announced. The earlier one is retried at least every minute, so the
    conversation is not held for half an hour of backoff once the integration is back."""
    from bot.handoff.rest_delivery import OutboxOutput
    from bot.outbound.rest_callback import RestCallback

    answers, received = [503] * 6, []

    async def receive(request):
        received.append((await request.json())["text"])
        return web.Response(status=answers.pop(0) if answers else 200)

    app = web.Application()
    app.router.add_post("/kefu-messages", receive)
    async with serving(app) as base:
        for text in ("请稍等。", "您的宽带已恢复。"):
            await OutboxOutput().send_response("crm-4711", {"text": text})
        repository = Repository(kefu_env.database_url)
        first_id = repository.outbound(status="pending", channel="rest")[0]["id"]
        integration = {"rest": RestCallback(f"{base}/kefu-messages", "s3cret")}
        now, passes = dt.datetime.utcnow(), []
        while status_of(repository, first_id) == "pending" and len(passes) < 20:
            passes.append((now, await deliver_pending(repository, integration, now=now)))
            retry_at = payload_of(repository, first_id).get("retry_at")
            now = dt.datetime.fromisoformat(retry_at) if retry_at else now

    assert [counts["waiting"] for _, counts in passes[:-1]] == [1] * 6  # the answer waited every time
    assert passes[-1][1]["sent"] == 2
    assert received == ["请稍等。"] * 7 + ["您的宽带已恢复。"]
    assert all(b - a <= dt.timedelta(minutes=1) for (a, _), (b, _) in zip(passes, passes[1:]))


async def test_a_timeout_or_a_proxys_error_page_is_tried_again(kefu_env):
    calls = []

    async def slow_then_proxy_page(request):
        calls.append(await request.json())
        if len(calls) == 1:
            await asyncio.sleep(1.0)  # past the adapter's timeout below
            return web.json_response({"code": 0})
        return web.Response(status=502, text="<html>Bad Gateway</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/v1/sms/send", slow_then_proxy_page)
    async with serving(app) as base:
        repository, row_id = await queue_text(kefu_env)
        sms = {"sms": SmsGateway(base, "k", "Kefu", timeout_s=0.3)}
        now = dt.datetime.utcnow()
        timed_out = await deliver_pending(repository, sms, now=now)
        error_page = await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=31))

    assert timed_out["retry"] == 1 and error_page["retry"] == 1 and len(calls) == 2
    assert status_of(repository, row_id) == "pending" and "HTTP 502" in payload_of(repository, row_id)["last_error"]


async def test_a_worker_reading_an_old_page_leaves_a_message_another_put_back_to_wait(kefu_env):
    """The page is read before the pass sends anything; while this worker sends the first text, another
    machine tries the second, gets a 429 and puts it back to wait. This worker must not send it again
    at once, nor wipe its retry count."""
    repository, first = await queue_text(kefu_env)
    _, second = await queue_text(kefu_env, kind="selfhelp")
    now = dt.datetime.utcnow()
    retry_at = (now + dt.timedelta(seconds=30)).isoformat()
    waiting = {**payload_of(repository, second), "attempts": 1, "retry_at": retry_at}
    sent = []

    class Gateway(SmsGateway):
        async def send(self, to, message):
            sent.append(message["client_ref"])
            if len(sent) == 1:  # meanwhile, on another machine
                with repository.engine.begin() as conn:
                    conn.execute(outbox.update().where(outbox.c.id == second).values(payload=waiting))

    counts = await deliver_pending(repository, {"sms": Gateway("http://127.0.0.1:9", "k", "Kefu")}, now=now)

    assert counts["sent"] == 1 and sent == [f"outbox-{first}"]
    assert status_of(repository, second) == "pending" and payload_of(repository, second)["attempts"] == 1


async def test_the_gateway_refusing_kefus_own_key_is_tried_again_not_given_up(kefu_env, gateway):
    """HTTP 401/403 is the gateway refusing Kefu's credentials, not this text: nothing went out, and an
    operator who puts the key right within the hour gets the customer's text delivered. It was given up at
    once, like a bad number, and stayed ``failed`` until a person resent it."""
    received, base, answers = gateway
    repository, row_id = await queue_text(kefu_env)
    sms = {"sms": SmsGateway(base, "k", "Kefu")}
    now = dt.datetime.utcnow()
    answers.extend([401, 403])

    assert (await deliver_pending(repository, sms, now=now))["retry"] == 1
    assert (await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=31)))["retry"] == 1
    assert (await deliver_pending(repository, sms, now=now + dt.timedelta(seconds=31 + 61)))["sent"] == 1
    assert status_of(repository, row_id) == "sent" and len(received) == 3


WECHAT_ANSWERS = [("slow", "pending"), ("hang up", "pending"), (("wechat", -1), "pending"),
                  (("wechat", 45009), "pending"), ("token refused", "pending"), (("http", 503), "pending"),
                  (("wechat", 43004), "failed"), (("wechat", 40003), "failed")]


@pytest.mark.parametrize("answer,status", WECHAT_ANSWERS, ids=[str(a) for a, _ in WECHAT_ANSWERS])
async def test_a_wechat_message_is_tried_again_or_given_up_by_what_wechat_answered(kefu_env, text_channels, messenger,
                                                                                  answer, status):
    """A WeChat template message that timed out, or that WeChat was too busy for, is tried again within its
    hour like a text; one WeChat refused (a follower who unsubscribed) is given up at once. Every failure
    was given up at once, a mere timeout too."""
    channels, url = text_channels
    repository = Repository(kefu_env.database_url)
    await OutboxNotifier.from_settings(kefu_env, repository).send(
        OPENID, {"channel": "wechat", "kind": "ticket_notice", "text": "您的报修单已受理。"})
    [row] = repository.outbound(status="pending", channel="wechat", limit=10_000)
    wechat = {"wechat": await messenger("wechat", url, timeout_s=1.0 if answer == "slow" else 10.0)}
    now = dt.datetime.utcnow()
    channels.answer = answer

    await deliver_pending(repository, wechat, now=now)
    assert status_of(repository, row["id"]) == status
    channels.answer = "ok"
    await deliver_pending(repository, wechat, now=now + dt.timedelta(seconds=31))
    assert status_of(repository, row["id"]) == ("sent" if status == "pending" else "failed")
    tried_before = status == "pending" and answer != "token refused"  # without a token it never reached WeChat
    assert len(channels.to("wechat")) == (2 if tried_before else 1)


async def test_the_outbox_worker_kefu_run_starts_sends_wechat_messages(kefu_env, text_channels, redis_url, monkeypatch):
    """A WeChat message in the outbox (a voice message's self-help reply to a follower) went to no sender:
    `kefu run`'s outbox worker had the SMS gateway and the REST callback only, and the message waited as
    pending for ever. With the account's template settings it goes out through WeChat's API."""
    import threading

    from bot.outbound.worker import deliver_forever
    from bot.settings import get_settings
    from tests.contacts.test_contact_worker import poll

    channels, url = text_channels
    for name, value in {"WECHAT_APP_ID": "app-id", "WECHAT_APP_SECRET": "app-secret",
                        "WECHAT_TEMPLATE_ID": "TPL-NOTICE", "WECHAT_API_BASE_URL": url}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    repository = Repository(kefu_env.database_url)
    await OutboxNotifier.from_settings(settings, repository).send(
        OPENID, {"channel": "wechat", "kind": "ticket_notice", "text": "您的报修单已受理。"})
    [row] = repository.outbound(status="pending", channel="wechat", limit=10_000)

    stop = threading.Event()
    worker = threading.Thread(target=deliver_forever, args=(settings, stop), kwargs={"interval_s": 0.1,
                                                                                  "redis_url": redis_url})
    worker.start()
    try:
        await poll(lambda: status_of(repository, row["id"]) == "sent", "the WeChat message sent by kefu run's worker")
    finally:
        stop.set()
        await asyncio.to_thread(worker.join, 10)
    [sent] = channels.to("wechat")
    assert sent["template_id"] == "TPL-NOTICE" and sent["data"]["keyword1"]["value"] == "您的报修单已受理。"
