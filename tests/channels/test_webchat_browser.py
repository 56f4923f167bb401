"""Kefu's chat page in a real Chromium at phone width, against the running server."""
from __future__ import annotations

import contextlib
import json

import pytest
import yaml

from bot.selfhelp import load_catalogue
from tests.handoff.stack_client import open_page

pytestmark = [pytest.mark.slow, pytest.mark.browser]




@pytest.fixture
def page(browser, running_kefu):
    errors: list[str] = []
    context, page = open_page(browser, f"{running_kefu.settings.rasa_url}/chat/", errors, {"width": 375, "height": 740})
    page.get_by_text("在线", exact=True).wait_for(timeout=15000)
    yield page
    context.close()
    assert not errors, errors


def test_fault_shows_inline_video_and_next_step_survives_reload(page, running_kefu):
    page.get_by_placeholder("请输入您的问题").fill("宽带连不上了")
    page.keyboard.press("Enter")
    assert page.locator(".msg.user").last.inner_text() == "宽带连不上了"

    video = page.locator("video").first
    video.wait_for(timeout=30000)
    assert video.get_attribute("src") == f"{running_kefu.settings.rasa_url}/media/selfhelp/bb_restart.mp4"
    page.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=15000)  # metadata loaded
    assert page.evaluate("document.querySelector('video').duration") == pytest.approx(2, abs=0.2)
    link = page.locator(".replies a").first
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("href") == f"{running_kefu.settings.public_url}/help/bb_restart", "Kefu's own page"
    assert page.locator("#typing").is_hidden()

    # Fits a 375px phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.reload()
    page.get_by_text("在线", exact=True).wait_for(timeout=15000)
    assert page.locator("video").count() == 1, "the conversation is still there after a reload"
    page.get_by_role("button", name="没解决").click()
    assert page.locator(".msg.user").last.inner_text() == "没解决"
    page.locator(".msg.bot", has_text="手机号").wait_for(timeout=30000)


def test_a_selfhelp_answer_names_its_entry_once(page, running_kefu):
    """Found by a tester: the title was in the text, the link's label and the video's caption."""
    title = load_catalogue(running_kefu.settings.selfhelp_catalogue).get("tv_no_signal").title
    page.get_by_placeholder("请输入您的问题").fill("电视没信号")
    page.keyboard.press("Enter")
    page.locator("video").first.wait_for(timeout=30000)
    page.get_by_role("button", name="解决了").wait_for(timeout=30000)
    assert page.locator("#log").inner_text().count(title) == 1
    assert page.locator(".msg.bot", has_text=title).count() == 1
    assert page.locator(".replies a").first.inner_text() not in ("", title)


def test_the_selfhelp_link_opens_a_page_with_the_entrys_steps_and_video(page, running_kefu):
    """Found by a tester: the links went to the catalogue's www.example.com placeholders."""
    entry = load_catalogue(running_kefu.settings.selfhelp_catalogue).get("tv_no_signal")
    page.get_by_placeholder("请输入您的问题").fill("电视没信号")
    page.keyboard.press("Enter")
    link = page.locator(".replies a").first
    link.wait_for(timeout=30000)
    with page.context.expect_page() as opened:
        link.click()
    help_page = opened.value
    help_page.wait_for_load_state()
    assert help_page.title() == entry.title
    assert help_page.locator("h1").inner_text() == entry.title
    assert help_page.locator("ol li").all_inner_texts() == list(entry.steps)
    help_page.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=15000)
    help_page.close()


def test_queue_agent_messages_render_distinctly_and_escaped(page):
    hostile = '<img src=x onerror="window.pwned=1">'
    page.evaluate("m => window.kefuChat.receive(m)", {"custom": {"kind": "queue_status", "position": 3, "wait_minutes": 6}})
    page.evaluate("m => window.kefuChat.receive(m)",
                  {"custom": {"kind": "agent_message", "agent_name": "王芳", "text": hostile}})
    page.evaluate("m => window.kefuChat.receive(m)", {"text": hostile, "quick_replies": [
        {"type": "web_url", "title": "坏链接", "url": "javascript:alert(1)"}]})

    queue = page.locator(".notice.queue")
    assert "3" in queue.inner_text() and "6" in queue.inner_text() and "分钟" in queue.inner_text()
    agent = page.locator(".msg.agent")
    assert "王芳" in agent.locator(".agent-name").inner_text()
    assert agent.locator(".agent-text").inner_text() == hostile
    assert page.locator(".msg.bot").last.inner_text() == hostile
    assert page.locator("img").count() == 0 and page.evaluate("window.pwned") is None
    assert page.locator("a[href^='javascript']").count() == 0


def test_every_ui_string_comes_from_the_content_file(running_kefu):
    strings = json.loads((running_kefu.settings.content_dir / "ui" / "webchat.zh.json").read_text(encoding="utf-8"))
    assert {"queue_status", "agent_label", "typing", "input_placeholder"} <= strings.keys()
    web = running_kefu.settings.root / "bot" / "web" / "chat"
    for source in (path for path in web.rglob("*") if path.is_file()):  # vendor/ too
        text = source.read_text(encoding="utf-8")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in text), f"Chinese text in {source.relative_to(web)}"


def test_no_assistant_typing_dots_while_an_agent_serves(page):
    """Mobile tester: "小服正在输入…" showed for 30 s after each message while a person served."""
    def dots_right_after_sending(text):
        # Read in the same task as the send: no reply can arrive in between and hide the dots (CI: a late
        # reply to the earlier message hid them before a wait_for could see them).
        return page.evaluate("""text => {
            document.getElementById("input").value = text;
            document.getElementById("composer").requestSubmit();
            return !document.getElementById("typing").hidden;
        }""", text)

    page.evaluate("m => window.kefuChat.receive(m)", {"text": "您好，我是人工客服。",
                                                     "custom": {"kind": "agent_joined", "agent_name": "王芳"}})
    assert not dots_right_after_sending("好的，我等一下")
    page.locator(".msg.user", has_text="我等一下").wait_for()

    page.evaluate("m => window.kefuChat.receive(m)", {"text": "人工服务已结束。", "custom": {"kind": "agent_left"}})
    assert dots_right_after_sending("还有一个问题")  # the assistant answers again
    page.locator(".msg.user", has_text="还有一个问题").wait_for()


def test_a_message_set_aside_unanswered_is_explained_quoting_it(page):
    """The operator's note: the customer was not told when their message was set aside unanswered
    (bot/channels/webchat_inflight.py): the page showed it sent and nothing ever came."""
    said = "我家的宽带从昨天晚上开始就一直连不上，路由器的灯一直在闪红色，重启了好几次也没有用<b>"
    page.evaluate("m => window.kefuChat.receive(m)", {"custom": {
        "kind": "notice", "reason": "not_handled", "message": said, "client_id": "c1"}, "timestamp": 1.0})
    notice = page.locator(".notice").last.inner_text()
    assert f"“{said[:30]}…”" in notice and "重新发送" in notice and "转人工" in notice, notice


def test_a_draft_cut_at_the_limit_keeps_emoji_whole_and_is_answered(page, running_kefu):
    """Found in review: the page cut a long draft between the two halves of an emoji, and half an
    emoji failed the customer's turn (the technical-problem apology)."""
    draft = "宽带连不上了" + "网" * 1993 + "😀还有"  # the emoji takes UTF-16 units 2000 and 2001
    box = page.get_by_placeholder("请输入您的问题")
    box.fill(draft)
    kept = box.evaluate("el => ({length: el.value.length, last: el.value.charCodeAt(el.value.length - 1)})")
    assert kept == {"length": 1999, "last": ord("网")}, "cut before the emoji, not through it"
    answers = page.locator(".msg.bot").count()
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelectorAll('.msg.bot').length > {answers}", timeout=30000)
    apology = yaml.safe_load((running_kefu.settings.root / "domain" / "operations.yml").read_text(
        encoding="utf-8"))["responses"]["utter_technical_problem"][0]["text"]
    assert apology not in page.locator("#log").inner_text()


@contextlib.contextmanager
def tab(browser, url: str, stored: str):
    """Another tab of the conversation whose page's sessionStorage was ``stored`` (JSON): as a duplicated
    tab, which the browser opens with a copy of it; closed after."""
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    context.add_init_script(f"""if (!sessionStorage.getItem("kefu.webchat.session")) {{
        const stored = {stored};
        for (const key in stored) {{ sessionStorage.setItem(key, stored[key]); }}
    }}""")
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.get_by_text("在线", exact=True).wait_for(timeout=15000)
    yield page
    context.close()
    assert not errors, errors


def test_both_tabs_of_one_conversation_show_what_the_customer_typed_in_either(browser, page, running_kefu):
    """Found by the maintainers: each tab showed the answers to what was typed in the other, not the
    question. A tab opened later on the conversation (from before it began) shows both sides too."""
    url = f"{running_kefu.settings.rasa_url}/chat/"
    page.wait_for_function("() => window.kefuChat && window.kefuChat.session()", timeout=15000)
    before = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    with tab(browser, url, before) as other:
        assert other.evaluate("window.kefuChat.session()") == page.evaluate("window.kefuChat.session()")
        page.get_by_placeholder("请输入您的问题").fill("宽带连不上了")
        page.keyboard.press("Enter")
        other.locator("video").first.wait_for(timeout=30000)  # the answer; the question came before it
        assert other.locator(".msg.user").all_inner_texts() == ["宽带连不上了"]
        page.locator("video").first.wait_for(timeout=30000)
        other.get_by_role("button", name="没解决").click()  # shown by its title, not its payload, in both
        page.locator(".msg.bot", has_text="手机号").wait_for(timeout=30000)
        assert page.locator(".msg.user").all_inner_texts() == ["宽带连不上了", "没解决"], "each once"
    with tab(browser, url, before) as later:
        later.locator(".msg.bot", has_text="手机号").wait_for(timeout=30000)
        assert later.locator(".msg.user").all_inner_texts() == ["宽带连不上了", "没解决"]
