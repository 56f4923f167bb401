"""A desk close ends the claim the page shows, and files what it files once.

Real Redis and a real database (the demo's SQLite, PostgreSQL on CI), real ``RasaConversations`` over the Redis
tracker store (as test_desk_close_faults). The fault is real: the server refuses the close's script (``ACL``: not
allowed for that moment), so it never runs and the conversation is still claimed.
"""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from bot.db.repository import Repository
from bot.handoff.accounts import AccountStore
from bot.handoff.desk import Desk, DeskError
from bot.handoff.queue import HandoffRequest
from bot.handoff.sessions import COOKIE
from bot.ticket_notes import history_entry
from tests.handoff.test_desk_close_faults import waiting_for_a_person
from tests.handoff.test_desk_opt_out import served
from tests.handoff.test_desk_proof_ends import conversations, domain  # noqa: F401 - fixtures
from tests.paused_redis import redis_url  # noqa: F401,F811 - a server of its own: its ACL changes for a moment
from tests.sanic_served import served_desk

Sanic.test_mode = True  # more than one app in the process

CUSTOMER = {"customer": {"id": 1, "phone": "13800000001"}}


def redis_refuses_the_close_script(queue, redis_url: str) -> None:  # noqa: F811
    """The next close script of ``queue`` is refused by the server (its user may not run scripts for that moment,
    ``NOPERM``): it never runs, and Redis answers everything else."""
    script = queue._close

    async def refused(*args, **kwargs):
        queue._close = script
        admin = aioredis.Redis.from_url(redis_url)
        await admin.execute_command("ACL", "SETUSER", "default", "-evalsha", "-eval")
        try:
            return await script(*args, **kwargs)
        finally:
            await admin.execute_command("ACL", "SETUSER", "default", "+@all")
            await admin.close()

    queue._close = refused


async def serving(queue, kefu_env, conversations, conversation_id: str, packet: dict = CUSTOMER):  # noqa: F811
    await waiting_for_a_person(conversations, conversation_id)
    desk = await served(queue, kefu_env, HandoffRequest(conversation_id, "webchat", "billing", 1, "1", packet))
    desk.conversations = conversations
    return desk


def bot_said(tracker) -> list[str]:
    return [e.text for e in tracker.events if e.type_name == "bot"]


@pytest.mark.parametrize("disposition", ["ticket", "callback", "resolved"])
async def test_a_close_cut_off_before_its_script_files_once_when_retried(queue, kefu_env, redis_url, events,
                                                                          conversations, disposition):  # noqa: F811
    """Found in review: the close filed its ticket, then Redis failed before the queue's script; the conversation was
    still the agent's, and 结束 pressed again filed a second ticket (a second callback for someone to ring). The
    retry answers with the ticket the first try filed, and the customer hears of one ticket."""
    conversation_id = f"close-once-{disposition}"
    desk = await serving(queue, kefu_env, conversations, conversation_id)
    redis_refuses_the_close_script(queue, redis_url)
    with pytest.raises(aioredis.RedisError):  # the desk shows an error
        await desk.close("wang", conversation_id, disposition, note="宽带时断时续", phone="13800000001")
    assert await queue.serving("wang") == [conversation_id], "still the agent's: the script never ran"

    answer = await desk.close("wang", conversation_id, disposition, note="宽带时断时续", phone="13800000001")
    filed = Repository(kefu_env.database_url).tickets_for(None, conversation_id=conversation_id)
    assert [t["ticket_id"] for t in filed] == [answer["ticket_id"]], "one ticket, the one answered"
    assert await queue.serving("wang") == [], "closed"
    said = bot_said(await conversations.agent.tracker_store.retrieve(conversation_id))
    if disposition != "resolved":
        assert sum(answer["ticket_id"] in text for text in said) == 1, said
    assert len(events.data("handoff_closed")) == 1


def open_ticket(kefu_env, conversation_id: str, where: str) -> str:
    """The customer's open ticket the close takes up: a complaint filed in this chat (``here``), or a broadband repair
    reported on WeChat, on their account (``elsewhere``)."""
    here = where == "here"
    return Repository(kefu_env.database_url).create_ticket(
        kind="complaint" if here else "fault", customer_id=1, summary="宽带时断时续",
        details={} if here else {"fault_type": "fault_broadband"}, channel="webchat" if here else "wechat",
        conversation_id=conversation_id if here else "o_zhangwei_wx1")


def agents_notes(kefu_env, ticket_id: str, kind: str) -> list[dict]:
    return [e for e in (history_entry(h["note"]) for h in Repository(kefu_env.database_url).ticket_history(ticket_id))
            if e and e["kind"] == kind]


def customers_tickets(kefu_env, conversation_id: str) -> set[str]:
    repository = Repository(kefu_env.database_url)
    return {t["ticket_id"] for t in repository.tickets_for(1) + repository.tickets_for(None,
                                                                                     conversation_id=conversation_id)}


@pytest.mark.parametrize("where", ["here", "elsewhere"])
async def test_a_resolved_close_of_an_open_ticket_cut_off_resolves_it_once_when_retried(
        queue, kefu_env, redis_url, events, conversations, where):  # noqa: F811
    """已解决 on a conversation about the customer's open ticket resolves that ticket. Found in review: cut off after
    it did (the queue's script refused), the retry found the ticket resolved, and filed a second, new resolved
    ticket: the ledger showed the problem resolved twice, under two numbers."""
    conversation_id = f"close-once-resolves-{where}"
    ticket_id = open_ticket(kefu_env, conversation_id, where)
    before = customers_tickets(kefu_env, conversation_id)
    desk = await serving(queue, kefu_env, conversations, conversation_id,
                         {**CUSTOMER, "slots": {"last_ticket_id": ticket_id, "fault_type": "fault_broadband"}})
    redis_refuses_the_close_script(queue, redis_url)
    with pytest.raises(aioredis.RedisError):
        await desk.close("wang", conversation_id, "resolved", note="已重启光猫，恢复正常")
    assert Repository(kefu_env.database_url).get_ticket(ticket_id)["status"] != "open", "the first try resolved it"

    answer = await desk.close("wang", conversation_id, "resolved", note="已重启光猫，恢复正常")
    assert answer["ticket_id"] == ticket_id
    assert customers_tickets(kefu_env, conversation_id) == before, "no ticket filed"
    assert len(agents_notes(kefu_env, ticket_id, "agent_resolved")) == 1, "resolved once"
    assert await queue.serving("wang") == []
    assert len(events.data("handoff_closed")) == 1


@pytest.mark.parametrize("where", ["here", "elsewhere"])
async def test_a_follow_up_onto_an_open_ticket_cut_off_notes_it_once_when_retried(
        queue, kefu_env, redis_url, events, conversations, where):  # noqa: F811
    """转工单跟进 on a conversation about the customer's open ticket adds the agent's note to it. Found in review: cut
    off after it did, the retry added the note a second time."""
    conversation_id = f"close-once-follows-{where}"
    ticket_id = open_ticket(kefu_env, conversation_id, where)
    before = customers_tickets(kefu_env, conversation_id)
    desk = await serving(queue, kefu_env, conversations, conversation_id,
                         {**CUSTOMER, "slots": {"fault_type": "fault_broadband"}})
    redis_refuses_the_close_script(queue, redis_url)
    with pytest.raises(aioredis.RedisError):
        await desk.close("wang", conversation_id, "ticket", note="已约明天上午师傅上门")
    assert len(agents_notes(kefu_env, ticket_id, "agent_followup")) == 1, "the first try noted it"

    answer = await desk.close("wang", conversation_id, "ticket", note="已约明天上午师傅上门")
    assert answer["ticket_id"] == ticket_id
    assert customers_tickets(kefu_env, conversation_id) == before, "no ticket filed"
    assert len(agents_notes(kefu_env, ticket_id, "agent_followup")) == 1, "the agent's note, once"
    said = bot_said(await conversations.agent.tracker_store.retrieve(conversation_id))
    assert sum(ticket_id in text for text in said) == 1, said
    assert await queue.serving("wang") == []
    assert len(events.data("handoff_closed")) == 1


async def test_two_closes_at_once_file_one_ticket(queue, kefu_env, events, conversations):  # noqa: F811
    """A double click, or the page's request and its retry both arriving: found in review, each filed a ticket."""
    conversation_id = "close-once-twice"
    desk = await serving(queue, kefu_env, conversations, conversation_id)
    answers = await asyncio.gather(*(desk.close("wang", conversation_id, "ticket", note="宽带时断时续")
                                     for _ in range(2)))
    filed = Repository(kefu_env.database_url).tickets_for(None, conversation_id=conversation_id)
    assert [t["ticket_id"] for t in filed] == [filed[0]["ticket_id"]], "one ticket"
    assert {a["ticket_id"] for a in answers} == {filed[0]["ticket_id"]}, answers
    assert sorted(bool(a.get("closed_before")) for a in answers) == [False, True], "the second answered as the first"
    assert len(events.data("handoff_closed")) == 1


async def test_a_close_of_an_earlier_claim_closes_nothing(queue, clock, kefu_env, events, conversations):  # noqa: F811
    """The agent closed; the customer asked for a person again and the same agent took them; then a retry of the
    first close arrives (a page that got no answer, another tab). Found in review: it closed the new claim, the
    customer handed back in the middle of their new conversation. The page names the claim it closes (its view's
    ``claimed_at``); a close of another claim is refused and changes nothing. A page that names none (the version
    before) closes the current claim, as before."""
    conversation_id = "close-once-stale"
    desk = await serving(queue, kefu_env, conversations, conversation_id)
    first = (await desk.view("wang", conversation_id))["claimed_at"]
    await desk.close("wang", conversation_id, "resolved", claimed_at=first)
    clock.advance(60)
    await waiting_for_a_person(conversations, conversation_id)
    await queue.enqueue(HandoffRequest(conversation_id, "webchat", "billing", 1, "1", CUSTOMER))
    assert (await queue.take_next("wang"))[1].conversation_id == conversation_id
    second = (await desk.view("wang", conversation_id))["claimed_at"]
    assert second != first

    for disposition in ("resolved", "transfer"):
        with pytest.raises(DeskError) as refused:
            await desk.close("wang", conversation_id, disposition, skill="broadband", claimed_at=first)
        assert refused.value.code == "error_not_serving"
    assert await queue.serving("wang") == [conversation_id], "the new claim goes on"
    assert len(events.data("handoff_closed")) == 1, "only the first claim's close"

    assert (await desk.close("wang", conversation_id, "resolved", claimed_at=second)).get("closed_before") is None
    with pytest.raises(DeskError):  # nor answered as the second claim's close
        await desk.close("wang", conversation_id, "resolved", claimed_at=first)
    assert (await desk.close("wang", conversation_id, "resolved", claimed_at=second))["closed_before"] is True
    assert len(events.data("handoff_closed")) == 2


async def test_a_page_naming_no_claim_closes_the_current_one(queue, kefu_env, events, conversations):  # noqa: F811
    conversation_id = "close-once-old-page"
    desk = await serving(queue, kefu_env, conversations, conversation_id)
    await desk.close("wang", conversation_id, "resolved")
    assert await queue.serving("wang") == []
    assert (await desk.close("wang", conversation_id, "resolved"))["closed_before"] is True


async def test_the_desks_close_route_closes_the_claim_its_page_names(queue, clock, kefu_env, events,
                                                                    conversations):  # noqa: F811
    """The page sends the ``claimed_at`` of its view with 结束服务 (agent.js), through JSON both ways. A close of an
    earlier claim (a page that got no answer, another tab) arriving after the agent took the customer again is
    refused (409 ``error_not_serving``) and the new claim goes on; the close naming the claim on screen closes it."""
    conversation_id = "close-once-http"
    desk = Desk(queue, conversations, AccountStore(kefu_env.database_url), Repository(kefu_env.database_url))
    desk.accounts.add("wang", "wang-pass-1", ["billing"], display_name="王芳")
    token, _ = await desk.login("wang", "wang-pass-1")
    close_url = f"/agent/api/conversations/{conversation_id}/close"

    async def claimed(session, url: str) -> float:
        """The customer asks for a person, 王芳 presses 接入下一位: the claim her page shows."""
        await waiting_for_a_person(conversations, conversation_id)
        await queue.enqueue(HandoffRequest(conversation_id, "webchat", "billing", 1, "1", CUSTOMER))
        clock.advance(42.123456)  # a claim is stamped to the microsecond
        async with session.post(f"{url}/agent/api/claim", json={}) as answer:
            assert answer.status == 200
            shown = (await answer.json())["conversation"]
        assert shown["conversation_id"] == conversation_id
        return shown["claimed_at"]

    async with served_desk(desk, "desk_close_claimed_at") as url, \
            aiohttp.ClientSession(cookies={COOKIE: token}, headers={"X-Kefu-Desk": "1"}) as session:
        first = await claimed(session, url)
        async with session.post(url + close_url, json={"disposition": "resolved", "claimed_at": first}) as answer:
            assert answer.status == 200 and "closed_before" not in await answer.json()
        assert await queue.serving("wang") == []

        second = await claimed(session, url)
        assert second != first
        async with session.post(url + close_url, json={"disposition": "resolved", "claimed_at": first}) as answer:
            assert (answer.status, await answer.json()) == (409, {"error": "error_not_serving"})
        assert await queue.serving("wang") == [conversation_id], "the new claim goes on"
        assert len(events.data("handoff_closed")) == 1, "only the first claim's close"

        async with session.post(url + close_url, json={"disposition": "resolved", "claimed_at": second}) as answer:
            assert answer.status == 200 and "closed_before" not in await answer.json()
        assert await queue.serving("wang") == []
        async with session.post(url + close_url, json={"disposition": "resolved", "claimed_at": first}) as answer:
            assert answer.status == 404, "a retry of the first is not answered as the second claim's close"
        async with session.post(url + close_url, json={"disposition": "resolved", "claimed_at": second}) as answer:
            assert answer.status == 200 and (await answer.json())["closed_before"] is True, "its retry, as that close"
    assert len(events.data("handoff_closed")) == 2
