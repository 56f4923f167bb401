"""A callback queued before the queue record had its ``call`` field is still a callback the agent rings.

Found by an operator after an upgrade: callbacks already waiting in Redis, booked in a web chat whose
page the customer had since closed (as told they could), had no ``call`` field and were read as web
chats; their page looked gone, so every claim passed them over and the promised calls never came. Here
the records are written by the previous version's own enqueue script, on a real Redis, and read through
the claim script, the desk, the supervisor view, the figures and the metrics.

Also found by the operator: the supervisor view showed how long a callback's page had been closed
(``silent_s``), which says nothing about a customer the agent rings.
"""
from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import asdict

import pytest

from bot.channels import agent_desk
from bot.channels.agent_desk import WEB_DIR
from bot.contacts.offer import offer_request, offer_to_agents, promised_at
from bot.handoff import keys
from bot.handoff.presence import page_alive
from bot.handoff.queue import HandoffRequest, score
from bot.handoff.supervisor import queues as supervisor_queues
from tests.handoff import test_callback_page_closed as page_closed_tests
from tests.handoff.test_callback_page_closed import BOOKED, LEFT, booked_callback, closed_page
from tests.handoff.test_desk_database_down import desk_request
from tests.handoff.test_waiting_room import agent_available, wait_in_line

conversations, desk = page_closed_tests.conversations, page_closed_tests.desk  # their fixtures: an agent, a supervisor

# The enqueue script before the ``call`` field (bot/handoff/queue.py at 709474d; fc7da3a added it), as it wrote records.
_PREVIOUS_ENQUEUE = """
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'waiting' or state == 'claimed' then return state end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'request', ARGV[1], 'state', 'waiting', 'skill', ARGV[2],
           'priority', ARGV[3], 'enqueued_at', ARGV[4], 'channel', ARGV[6], 'waiting_since', ARGV[8])
redis.call('PERSIST', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[7])
return ''
"""


async def queued_by_previous_version(queue, request: HandoffRequest, enqueued_at: float) -> None:
    """``request`` queued as the previous version's HandoffQueue.enqueue queued it: no ``call`` field."""
    await queue.redis.eval(_PREVIOUS_ENQUEUE, 2, keys.queue(request.skill), keys.conversation(request.conversation_id),
                           json.dumps(asdict(request), ensure_ascii=False, default=str), request.skill,
                           int(request.priority), repr(enqueued_at), score(request.priority, enqueued_at * 1000),
                           request.channel, request.conversation_id, repr(queue.clock()))
    assert not await queue.redis.hexists(keys.conversation(request.conversation_id), "call")


async def queued_before_the_upgrade(queue, contact) -> None:
    await queued_by_previous_version(queue, offer_request(contact), promised_at(contact))


async def legacy_callback_after_a_gone_chat(queue, clock) -> None:
    """In line: a web chat whose page closed 10 minutes ago, then a callback queued before the upgrade,
    due a minute ago, whose customer closed the page an hour ago."""
    await page_closed_tests.callback_after_a_gone_chat(queue, clock, queued_before_the_upgrade)


async def test_a_callback_queued_before_the_upgrade_is_handed_to_the_agent_with_its_page_closed(
        desk, queue, clock, conversations):
    await agent_available(queue, "wang")
    await legacy_callback_after_a_gone_chat(queue, clock)
    await page_closed_tests.assert_the_agent_gets_the_callback_not_the_chat(desk, queue, conversations)


async def test_desk_supervisor_figures_and_metrics_count_the_old_callback_as_waiting(desk, queue, clock):
    await agent_available(queue, "wang")
    await legacy_callback_after_a_gone_chat(queue, clock)
    await page_closed_tests.assert_the_callback_waits_and_the_chat_is_gone(desk, queue, clock)


CALLBACK = {"contact_id": 7, "phone": "13900001234"}


@pytest.mark.parametrize("channel, context, call", [
    ("webchat", {"callback": CALLBACK}, True),   # booked in a web chat: the operator's case
    ("wechat", {"callback": CALLBACK}, True),
    ("ivr", {}, True),                            # a caller: as before
    ("webchat", {}, False),
    ("webchat", {"callback": {}}, False),         # nothing to ring: not a callback, in Python and in Lua
    ("webchat", {"callback": ["x"]}, False),      # an array is no callback either (cjson: a table too)
])
async def test_the_claim_script_and_python_agree_on_which_old_records_are_calls(queue, clock, channel, context, call):
    """An agent holding an old record is on a call exactly when the Python readers (the wait estimate's
    calls_held, the entry) say so: the claim script then passes a caller over (one call per agent)."""
    await queue.roster.register("wang", name="王芳", skills=["tv"], capacity=3, status="available")
    await queued_by_previous_version(queue, HandoffRequest("old", channel, "tv", 0, None, context), clock())
    clock.advance(1)
    assert (await queue.claim_next("wang")).conversation_id == "old"
    assert (await queue.entry("old"))["call"] is call
    assert await queue.roster.calls_held("wang") == int(call)
    await queue.enqueue(HandoffRequest("ivr:caller", "ivr", "tv", 0, None, {}))
    state, request = await queue.take_next("wang")
    if call:
        assert (state, request) == ("on_a_call", None), "an agent ringing an old callback was handed a caller"
    else:
        assert (state, request.conversation_id) == ("ok", "ivr:caller")


async def test_the_supervisor_shows_no_page_silence_for_a_callback(queue, clock):
    """Old record or new, a callback shows that it is one, not how long its page has been closed; a web
    chat still shows its customer's silence, a gone one that it is gone."""
    await legacy_callback_after_a_gone_chat(queue, clock)
    await closed_page(queue, "web-booked-new", clock() - 1900, clock() - 1800)
    assert await offer_to_agents(queue, booked_callback("web-booked-new", clock() - 30))
    await page_alive(queue.redis, "web-chat", "tab-1", clock() - 20)  # open, last ping 20 s ago
    await wait_in_line(queue, "web-chat")

    tv = next(q for q in await supervisor_queues(queue) if q["skill"] == "tv")
    shown = {e["conversation_id"]: (e["silent_s"], e["callback"], e["gone"]) for e in tv["entries"]}
    assert shown[BOOKED] == (None, True, False), "the old callback's closed page is shown"
    assert shown["web-booked-new"] == (None, True, False), "the callback's closed page is shown"
    assert shown[LEFT] == (601.0, False, True)
    assert shown["web-chat"] == (21.0, False, False)


def supervisor_page_rows(overview: dict, view: dict) -> dict[str, str]:
    """The supervisor page (bot/web/agent/supervisor.html, its scripts and strings as served) in a headless
    Chromium, its API answering ``overview`` and ``view``: each queue row's text, by conversation id."""
    from tests.playwright_start import sync_playwright_started

    from tests.conftest import CHROMIUM, CHROMIUM_ARGS, PROJECT_ROOT

    files = {"/agent/supervisor/": WEB_DIR / "supervisor.html",
             "/agent/ui/agent_desk.zh.json": PROJECT_ROOT / "content" / "ui" / "agent_desk.zh.json"}
    answers = {"/agent/api/overview": overview, "/agent/api/supervisor": view}

    def serve(route):
        path = route.request.url.split("kefu.test", 1)[1].split("?")[0]
        if path in answers:
            return route.fulfill(status=200, json=answers[path])
        found = files.get(path) or (WEB_DIR / path[len("/agent/assets/"):] if path.startswith("/agent/assets/")
                                    else None)
        return route.fulfill(path=str(found)) if found and found.exists() else route.fulfill(status=404)

    with sync_playwright_started() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("http://kefu.test/**", serve)
            page.goto("http://kefu.test/agent/supervisor/")
            page.locator(f"tr[data-conversation='{BOOKED}']").wait_for(timeout=10000)
            rows = {tr.get_attribute("data-conversation"): tr.inner_text()
                    for tr in page.locator("tr[data-conversation]").all()}
        finally:
            browser.close()
    assert not errors, errors
    return rows


async def test_the_supervisor_page_says_callback_where_it_said_how_long_the_page_was_closed(desk, queue, clock):
    from tests.conftest import CHROMIUM

    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    await legacy_callback_after_a_gone_chat(queue, clock)
    await page_alive(queue.redis, "web-chat", "tab-1", clock() - 20)
    await wait_in_line(queue, "web-chat")
    token, _ = await desk.login("boss", "boss-pass-1")
    answers = [json.loads((await handler(desk_request(desk, token, path))).body)
               for handler, path in ((agent_desk.overview, "/agent/api/overview"),
                                     (agent_desk.supervision, "/agent/api/supervisor"))]

    rows = await asyncio.to_thread(supervisor_page_rows, *answers)

    assert "预约回电" in rows[BOOKED] and "客户最后在线" not in rows[BOOKED], rows[BOOKED]
    assert "已离开页面" in rows[LEFT]
    assert "客户最后在线" in rows["web-chat"]
