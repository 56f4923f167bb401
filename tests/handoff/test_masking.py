"""Masking on the desk, whatever way a customer writes a personal number: unbroken, or in groups
with spaces, dots or dashes (a tester's "138 0000 0003" reached the agent in full)."""
from __future__ import annotations

import re

import pytest

from hypothesis import given, strategies as st

from bot.handoff import masking
from bot.handoff.packet import build_packet

SEPARATORS = st.sampled_from([" ", "-", ".", "\u3000", "－"])
BEFORE = st.sampled_from(["", "我的电话是 ", "身份证：", "账号", "备用 "])
AFTER = st.sampled_from(["", "，谢谢", " 这个号码", "。", "）"])
ORDINARY = st.sampled_from([
    "上月128元", "套餐 99.50 元", "2024-11-30", "2024.11.30", "2024-11-30 10:00 上门", "20241130 10:30",
    "工单TK000001", "TK000123 12:30", "验证码 123456", "默认密码是000000", "第 3 次", "10:00-12:00",
    "192.168.1.1", "错误码 E102", "1 2 3", "2 月 3 号 9 点"])

mobiles = st.builds(lambda second, rest: f"1{second}{rest}", st.sampled_from("3456789"),
                    st.text("0123456789", min_size=9, max_size=9))
id_cards = st.builds(lambda digits, check: digits + check, st.text("0123456789", min_size=17, max_size=17),
                     st.sampled_from("0123456789X"))
accounts = st.text("0123456789", min_size=10, max_size=10)


@st.composite
def grouped(draw, numbers):
    """A number in groups as people write it: 138 0000 0003, 1101-0119-..., or unbroken; maybe +86."""
    number = draw(numbers)
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1)))
    groups = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)])]
    written = groups[0] + "".join(draw(SEPARATORS) + group for group in groups[1:])
    return number, draw(st.sampled_from(["", "+86 ", "+86-"])) + written if number[0] == "1" else written


def digits(text: str) -> str:
    return "".join(re.findall(r"[0-9X]", text))


@given(st.one_of(grouped(mobiles), grouped(id_cards), grouped(accounts)), BEFORE, AFTER)
def test_a_personal_number_in_any_grouping_shows_only_its_last_four_digits(given_number, before, after):
    number, written = given_number
    said = before + written + after
    shown = masking.mask_text(said)
    assert digits(shown) == number[-4:], f"{said!r} shown as {shown!r}"
    assert len(shown) == len(said), "separators and the words around stay where they were"


@given(grouped(mobiles), grouped(id_cards))
def test_the_packet_masks_grouped_numbers_everywhere_and_the_reveal_shows_them(phone, id_card):
    said = f"我的电话是 {phone[1]}，身份证 {id_card[1]}"
    packet = build_packet(conversation_id="c1", channel="webchat", skill="general", priority=0, reason="requested",
                          enqueued_at=1.0, events=[{"event": "user", "text": said, "timestamp": 1.0,
                                                    "parse_data": {"intent": {"name": "request_human"}}}])
    shown = masking.masked_packet(packet)
    for text in (shown["transcript"][0]["text"], shown["intents"][0]["text"]):
        assert phone[0][:7] not in digits(text) and id_card[0][:14] not in digits(text)
        assert digits(text).endswith(phone[0][-4:] + id_card[0][-4:])
    assert masking.reveal(packet, "transcript") == [said]


def test_the_packet_masks_the_numbers_in_its_open_tickets_words():
    """An open ticket's summary is the customer's words ("客户投诉：…"): the desk's conversation view
    showed them in full, while the ledger, the glance and the work items masked them."""
    ticket = {"ticket_id": "TK000042", "kind": "complaint", "status": "open",
              "summary": "客户投诉：备用号码13912345678一直收不到短信，身份证110101199001011234"}
    packet = build_packet(conversation_id="c1", channel="webchat", skill="general", priority=0, reason="complaint",
                          enqueued_at=1.0, open_tickets=[ticket])
    summary = masking.masked_packet(packet)["open_tickets"][0]["summary"]
    assert "13912345678" not in summary and "110101199001011234" not in summary, summary
    assert "5678" in summary and "收不到短信" in summary
    assert packet["open_tickets"][0]["summary"] == ticket["summary"], "the stored packet keeps it"


@given(ORDINARY, BEFORE, AFTER)
def test_numbers_an_agent_reads_stay_as_written(ordinary, before, after):
    said = before + ordinary + after
    assert masking.mask_text(said) == said


def test_the_testers_message_reaches_the_agent_masked():
    said = "我的电话是 138 0000 0003，身份证 1101 0119 9001 0112 34，备用 138-0000-0004"
    assert masking.mask_text(said) == ("我的电话是 *** **** 0003，身份证 **** **** **** **12 34，"
                                       "备用 ***-****-0004")


def test_numbers_in_chinese_numerals_are_masked_like_digits_on_the_desk_and_in_logs():
    """A tester's number typed as 一三九一二三四五六七八, and a voice message's recognised
    一三八零零零零零零零三, reached the agent in full, without a reveal or an audit event."""
    from bot.security.log_masking import mask_numbers

    said = "备用一三九一二三四五六七八，语音里说的是幺三八 零零零零 零零零三"
    for shown in (masking.mask_text(said), mask_numbers(said)):
        assert "一三九一二三" not in shown and "幺三八" not in shown, shown
        assert "五六七八" in shown and "零零零三" in shown and len(shown) == len(said)
    ordinary = "三三两两来了一一说明，十一点到，一二三四五六七八九步"
    assert masking.mask_text(ordinary) == ordinary


def test_a_code_volunteered_in_a_sentence_never_reaches_the_agent():
    events = [{"event": "user", "text": "我家宽带坏了，验证码是861005，密码：123456"},
              {"event": "user", "text": "上月128元，工单TK000001"}]
    shown = masking.without_proofs(events)
    assert "861005" not in shown[0]["text"] and "123456" not in shown[0]["text"]
    assert shown[0]["text"].startswith("我家宽带坏了，验证码是")
    assert shown[1] == events[1]


def agent_says(words: str):
    from rasa.shared.core.events import BotUttered

    return BotUttered(f"王芳：{words}", metadata={"agent": {"name": "王芳", "text": words}})


AGENT_ASKS = agent_says("麻烦先核实一下身份，请回复您的6位服务密码")
AGENT_WARNS = agent_says("验证码和密码不要告诉任何人哦")


def shown_after(before, said: str) -> str:
    """What the agent reads of the customer's ``said`` right after ``before`` (Rasa events), and what
    the tracker store keeps of it: the same."""
    from rasa.shared.core.events import UserUttered

    from bot.security.secret_answers import storage_forms

    events = [*(before if isinstance(before, list) else [before]), UserUttered(said)]
    desk = masking.without_proofs([event.as_dict() for event in events])[-1]["text"]
    assert storage_forms(events)[-1]["text"] == desk, "the desk and the tracker store apply one rule"
    return desk


@pytest.mark.parametrize("said", [
    "我的订单号是 202411，还没到",  # an order number in a sentence after an agent's ask
    "订单 314159 还没发货",
    "好的，我2024年11月30号开的户",
])
def test_an_ordinary_number_after_an_agent_mentions_a_password_stays_readable(said):
    """Found in review: after an agent mentioned 密码/验证码, any six digits in the customer's next
    message were shown as ******, an order number or a date the agent needed to read."""
    assert shown_after(AGENT_ASKS, said) == said
    assert shown_after(AGENT_WARNS, said) == said


@pytest.mark.parametrize("said", ["密码2024年就改过了", "验证码60秒就过期了吗", "密码是2023年设的"])
def test_a_date_or_count_after_the_word_password_is_not_taken_for_one(said):
    assert shown_after([], said) == said


@pytest.mark.parametrize("said, shown", [
    ("135790", "******"), (" 135790。", " ******。"), ("135790!", "******!"),  # the bare answer to an agent
    ("我的服务密码是246802", "我的服务密码是******"), ("验证码：861005，谢谢", "验证码：******，谢谢"),
])
def test_the_answer_to_an_agents_ask_and_a_named_password_are_still_blanked(said, shown):
    assert shown_after(AGENT_ASKS, said) == shown


def test_any_six_digits_the_assistant_checks_as_its_proof_answer_are_still_blanked():
    """While the assistant waits for proof it checks six digits anywhere in the message (actions.identity):
    whatever it checks is a password to keep out of sight."""
    from rasa.shared.core.events import SessionStarted, SlotSet

    awaiting = SlotSet("awaiting", "verification_code")
    assert shown_after(awaiting, "好的 271828") == "好的 ******"
    assert shown_after([awaiting, SessionStarted()], "订单 271828") == "订单 271828", \
        "a new session awaits nothing"
