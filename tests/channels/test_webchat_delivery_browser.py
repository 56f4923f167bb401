"""A phone losing signal mid-conversation (mobile tester, findings 1 and 3), in a real Chromium
behind a loopback proxy that blackholes the connection like a lift or a metro tunnel.

The running stack's heartbeat is 4 s + 4 s (tests/channels/stack_env.py), so the page notices the
cut within 8 s instead of the production 45 s."""
from __future__ import annotations

import pytest

from tests.channels.tcp_cut import TcpCut
from tests.handoff.stack_client import open_page, tracker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TYPED = "地铁里发的：我家地址是幸福小区3栋2单元"


@pytest.fixture
def phone_behind_cut(browser, running_kefu):
    cut = TcpCut(running_kefu.settings.rasa_port)
    errors: list[str] = []
    context, page = open_page(browser, f"{cut.url}/chat/", errors, {"width": 390, "height": 844})
    page.get_by_text("在线", exact=True).wait_for(timeout=15000)
    page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
    yield cut, page
    context.close()
    cut.close()
    assert not errors, errors


def said_by_customer(stack, session_id: str, text: str) -> int:
    return sum(1 for e in tracker(stack, session_id)["events"] if e.get("event") == "user" and e.get("text") == text)


def test_a_message_sent_without_signal_says_so_and_arrives_once_when_the_signal_returns(phone_behind_cut, running_kefu):
    cut, page = phone_behind_cut
    session_id = page.evaluate("window.kefuChat.session()")
    status = page.locator("#status")

    cut.blackhole()
    page.get_by_placeholder("请输入您的问题").fill(TYPED)
    page.keyboard.press("Enter")
    # No ack, no pings: the bubble and the header stop pretending.
    page.locator(".msg-state[data-state='retrying']", has_text="未发送").wait_for(timeout=20000)
    wait_for(lambda: status.get_attribute("data-state") == "offline", timeout=20)
    assert status.inner_text() == "连接已断开，正在重连…"
    assert "地铁里" in page.evaluate("sessionStorage.getItem('kefu.webchat.pending')"), "kept for the resend"
    assert said_by_customer(running_kefu, session_id, TYPED) == 0

    cut.restore()
    page.get_by_text("在线", exact=True).wait_for(timeout=30000)
    page.locator(".msg-state").wait_for(state="detached", timeout=20000)
    wait_for(lambda: said_by_customer(running_kefu, session_id, TYPED) == 1, timeout=30)
    assert page.evaluate("JSON.parse(sessionStorage.getItem('kefu.webchat.pending'))") == []
    assert page.locator(".msg.user", has_text="地铁里").count() == 1
    page.locator(".msg.bot").nth(1).wait_for(timeout=30000)  # the assistant answered it
    assert said_by_customer(running_kefu, session_id, TYPED) == 1, "taken once"
    # Screen readers hear the connection's changes too.
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"


def test_a_queued_phone_dropped_while_away_is_told_so_on_return_and_can_queue_again(phone_behind_cut, running_kefu):
    """Mobile tester: a queued customer gone past the grace period was dropped silently, and the page
    back in coverage still showed the old place. The grace (10 minutes) is aged here in Redis rather
    than waited for: the waiting room's own rule then runs as in production. Aged past the grace but
    not past the queue's longest wait (``max_wait_s``, counted from ``waiting_since``), which would
    end the wait for another reason."""
    import redis
    import time

    from bot.handoff import keys
    from bot.handoff.presence import customer_seen_key
    from bot.handoff.rules import load_rules
    from bot.handoff.waiting_settings import load_waiting_room
    from tests.conftest import PROJECT_ROOT

    grace = load_waiting_room(PROJECT_ROOT / "content" / "waiting_room.yml").grace_for("webchat")
    max_wait = load_rules(PROJECT_ROOT / "content" / "handoff.yml").max_wait_s
    assert grace < max_wait

    cut, page = phone_behind_cut
    session_id = page.evaluate("window.kefuChat.session()")
    page.get_by_placeholder("请输入您的问题").fill("转人工")
    page.keyboard.press("Enter")
    page.locator(".replies button", has_text="取消排队").first.wait_for(timeout=30000)

    cut.blackhole()
    client = redis.Redis.from_url(running_kefu.redis_url)
    conversation = keys.conversation(session_id)

    def away_for_long() -> bool:  # overwrites the server's own "seen" at the socket's timeout too
        if client.hget(conversation, "state") != b"waiting":
            return True
        long_ago = time.time() - (grace + max_wait) / 2
        client.hset(conversation, mapping={"waiting_since": long_ago, "last_user_at": long_ago})
        client.set(customer_seen_key(session_id), repr(long_ago))
        return False

    wait_for(away_for_long, timeout=40, interval=1.0)
    client.close()

    cut.restore()
    told = page.locator(".msg.bot", has_text="已为您退出人工排队")
    told.wait_for(timeout=30000)
    assert page.locator(".replies button", has_text="取消排队").first.is_disabled(), "the old place is spent"
    page.get_by_role("button", name="重新排队").click()
    page.locator(".replies button:enabled", has_text="取消排队").first.wait_for(timeout=30000)


def test_a_message_whose_ack_never_comes_is_sent_again_on_a_new_connection(browser, running_kefu):
    """The connection looks alive (the server's pings get through) but a message is lost on the way and
    never acknowledged: once the ack is overdue (the heartbeat's timeout, 4 s here) the page gives that
    connection up, reconnects and sends the message again; it is taken once. Playwright's WebSocket
    routing drops the first user_uttered frame only."""
    dropped: list[str] = []

    def lose_first_message(ws) -> None:
        server = ws.connect_to_server()

        def to_server(message) -> None:
            if isinstance(message, str) and "user_uttered" in message and not dropped:
                dropped.append(message)
                return
            server.send(message)
        ws.on_message(to_server)

    errors: list[str] = []
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.route_web_socket("**/socket.io/**", lose_first_message)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{running_kefu.settings.rasa_url}/chat/")
        page.get_by_text("在线", exact=True).wait_for(timeout=15000)
        page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
        session_id = page.evaluate("window.kefuChat.session()")

        page.get_by_placeholder("请输入您的问题").fill(TYPED)
        page.keyboard.press("Enter")
        page.locator(".msg-state").wait_for(timeout=10000)  # 发送中, then 未发送: not through yet
        # Waited for in the browser: the sync API runs the routing above only while it is called.
        page.locator(".msg-state").wait_for(state="detached", timeout=60000)
        wait_for(lambda: said_by_customer(running_kefu, session_id, TYPED) == 1, timeout=30)
        assert len(dropped) == 1 and TYPED in dropped[0]
        assert page.evaluate("JSON.parse(sessionStorage.getItem('kefu.webchat.pending'))") == []
        page.locator(".msg.bot").nth(1).wait_for(timeout=30000)  # the assistant answered it
        assert said_by_customer(running_kefu, session_id, TYPED) == 1, "taken once"
    finally:
        context.close()
    assert not errors, errors
