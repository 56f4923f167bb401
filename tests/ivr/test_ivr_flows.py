"""Flow files: the shipped flows load, and each bad flow fails with the file, node and field named."""
from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from bot.ivr.bot_turns import spoken_replies
from bot.ivr.config import load_hotline_config
from bot.ivr.errors import FlowError
from bot.ivr.flow_loader import load_flow_file, parse_flow
from bot.ivr.matching import digits_valid, match_phrases, spoken_digits
from bot.ivr.registry import FlowRegistry

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
flow: demo
start: menu
nodes:
  menu:
    type: menu
    say: 按1
    options:
      - {digits: "1", phrases: [话费], target: bye}
  bye:
    type: hangup
    say: 再见
"""

# (what is wrong, the edit, expected node, expected field, words in the problem)
BAD = [
    ("dangling target", ("target: bye}", "target: nowhere}"), "menu", "options[0].target", "names no node"),
    ("unknown field", ("    say: 按1\n", "    say: 按1\n    colour: red\n"), "menu", "colour", "not a field"),
    ("two-key option", ('digits: "1"', 'digits: "12"'), "menu", "options[0].digits", "one key"),
    ("unknown type", ("type: hangup", "type: teleport"), "bye", "type", "must be one of"),
    ("missing say", ("    say: 按1\n", ""), "menu", "say", "required"),
    ("bad start", ("start: menu", "start: nope"), "", "start", "names no node"),
    ("wrong flow id", ("flow: demo", "flow: other"), "", "flow", "file name"),
]


def test_shipped_flows_load():
    for path in (ROOT / "ivr_flows").glob("*.yml"):
        flow = load_flow_file(path)
        assert flow.start in flow.nodes
    main = load_flow_file(ROOT / "ivr_flows" / "main.yml")
    assert {n.kind for n in main.nodes.values()} >= {"play", "menu", "collect_digits", "bot", "record",
                                                     "transfer", "hangup", "goto"}
    load_hotline_config(ROOT / "content" / "ivr.yml")


@pytest.mark.parametrize("name,edit,node,field,problem", BAD, ids=[b[0] for b in BAD])
def test_bad_flow_names_file_node_and_field(name, edit, node, field, problem):
    text = GOOD.replace(*edit)
    assert text != GOOD
    with pytest.raises(FlowError) as raised:
        parse_flow(text, "demo.yml", "demo")
    error = raised.value
    assert (error.file, error.node, error.field) == ("demo.yml", node, field)
    assert problem in error.problem and "demo.yml" in str(error)


def test_loop_without_input_is_rejected():
    text = GOOD + """
  a:
    type: play
    say: 一
    next: b
  b:
    type: goto
    target: a
"""
    with pytest.raises(FlowError, match="loop without waiting for the caller"):
        parse_flow(text, "demo.yml", "demo")


def test_bad_yaml_and_bad_pattern():
    with pytest.raises(FlowError, match="not valid YAML"):
        parse_flow("flow: [", "demo.yml", "demo")
    text = GOOD.replace("""  bye:
    type: hangup""", """  number:
    type: collect_digits
    say: 请输入
    length: 11
    pattern: "([0-9"
    next: bye
  bye:
    type: hangup""")
    with pytest.raises(FlowError) as raised:
        parse_flow(text, "demo.yml", "demo")
    assert (raised.value.node, raised.value.field) == ("number", "pattern")


async def test_registry_reloads_and_keeps_old_versions(tmp_path):
    path = tmp_path / "demo.yml"
    path.write_text(GOOD, encoding="utf-8")
    registry = FlowRegistry(tmp_path, recheck_every_s=0).load()
    first = await registry.current("demo")
    path.write_text(GOOD.replace("再见", "再会"), encoding="utf-8")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = await registry.current("demo")
    assert second.version != first.version
    assert (await registry.version("demo", first.version)).node("bye").say == "再见"
    path.write_text(GOOD.replace("target: bye}", "target: nowhere}"), encoding="utf-8")  # a broken edit
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert (await registry.current("demo")).version == second.version


async def test_a_same_size_flow_save_with_its_modification_time_put_back_is_served(tmp_path):
    """Found in review: flows were reloaded on a changed modification time or size only, so callers kept
    hearing 再见 after an editor changed it to 再会 with a tool that keeps file dates (`cp -p`)."""
    path = tmp_path / "demo.yml"
    path.write_text(GOOD, encoding="utf-8")
    registry = FlowRegistry(tmp_path, recheck_every_s=0).load()
    assert (await registry.current("demo")).node("bye").say == "再见"
    status = path.stat()
    path.write_text(GOOD.replace("再见", "再会"), encoding="utf-8")
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (path.stat().st_mtime_ns, path.stat().st_size) == (status.st_mtime_ns, status.st_size)
    assert (await registry.current("demo")).node("bye").say == "再会"


async def test_a_flow_saved_as_gbk_is_ignored_and_new_calls_keep_the_last_good_version(tmp_path, caplog):
    """An editor's Windows tool saved a flow as GBK: every new call's flow lookup stopped with a
    UnicodeDecodeError (the hotline answered no one) instead of the last good version serving."""
    import logging

    path = tmp_path / "demo.yml"
    path.write_text(GOOD, encoding="utf-8")
    registry = FlowRegistry(tmp_path, recheck_every_s=0).load()
    good = await registry.current("demo")
    path.write_bytes(GOOD.replace("再见", "再会").encode("gbk"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    with caplog.at_level(logging.ERROR, logger="bot.ivr.registry"):
        assert (await registry.current("demo")).version == good.version
    assert "demo.yml" in caplog.text and "UTF-8" in caplog.text


def test_empty_flows_folder_is_an_error(tmp_path):
    with pytest.raises(FlowError, match="no flow files"):
        FlowRegistry(tmp_path).load()


def test_business_hours():
    hours = load_hotline_config(ROOT / "content" / "ivr.yml").hours
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert hours.is_open(dt.datetime(2026, 3, 2, 10, 0, tzinfo=shanghai))
    assert not hours.is_open(dt.datetime(2026, 3, 2, 22, 0, tzinfo=shanghai))


def test_matching_and_digits():
    from bot.ivr.flow import MenuOption

    options = [MenuOption("1", ("话费",), "bill"), MenuOption("2", ("宽带", "宽带故障"), "fault")]
    assert [o.target for o in match_phrases("我想查一下话费", options)] == ["bill"]
    assert match_phrases("你好", options) == []
    assert [o.target for o in match_phrases("宽带故障交话费", options)] == ["fault"]  # 4 characters against 2
    assert [o.target for o in match_phrases("宽带话费", options)] == ["bill", "fault"]  # as much of each: ask which
    assert spoken_digits("幺三八 零零零零 一二三四") == "13800001234"
    assert digits_valid("13800001234", 11, 11, r"^1[3-9]\d{9}$", "")
    assert not digits_valid("4539578763621487", 16, 16, "", "luhn")
    assert digits_valid("4539578763621486", 16, 16, "", "luhn")


def test_bot_replies_on_the_phone():
    messages = [
        {"text": "请问宽带具体是什么情况？", "buttons": [{"title": "完全上不了网", "payload": "/a"},
                                                   {"title": "网速慢", "payload": "/b"}]},
        {"text": "重启光猫", "attachment": {"type": "video", "payload": {"src": "http://x/v.mp4", "title": "重启"}},
         "buttons": [{"title": "图文", "url": "http://x/help", "type": "web_url"}], "utter_action": "utter_x"},
        {"text": "正在转接", "utter_action": "utter_renamed_by_an_editor"},
    ]
    spoken = spoken_replies(messages, "{title}请按{digit}", 5)
    assert spoken.texts[0].endswith("完全上不了网请按1 网速慢请按2")
    assert spoken.buttons == ["/a", "/b"]
    assert {link["url"] for link in spoken.links} == {"http://x/v.mp4", "http://x/help"}
    assert spoken.queued is None, "a response's name says nothing about the queue"
    queued = spoken_replies(messages + [{"custom": {"kind": "queue_status", "position": 3, "wait_minutes": 4}}],
                            "{title}请按{digit}", 5)
    assert (queued.queued.position, queued.queued.wait_minutes) == (3, 4)
    assert queued.texts == spoken.texts, "the structured status is not read out twice"


async def test_conditions_vip_tier_and_queue_wait():
    from bot.ivr.call_state import CallState
    from bot.ivr.conditions import ConditionContext
    from bot.ivr.flow import Condition

    hours = load_hotline_config(ROOT / "content" / "ivr.yml").hours
    waits = {"general": 400.0, "vip": 10.0}

    async def queue_wait(skill: str) -> float:
        return waits[skill]

    noon = dt.datetime(2026, 3, 2, 4, 0, tzinfo=dt.timezone.utc)  # 12:00 in Shanghai
    context = ConditionContext(hours, queue_wait, clock=lambda: noon)
    vip = CallState("c", "13800000001", "main", "v", "n", 0.0, customer_id=1, vip_tier=2)
    plain = CallState("d", "13800000002", "main", "v", "n", 0.0)
    assert await context.holds(Condition(vip_tier_at_least=2), vip)
    assert not await context.holds(Condition(vip_tier_at_least=2), plain)
    assert await context.holds(Condition(known_customer=False, business_hours=True), plain)
    assert await context.holds(Condition(queue_wait_over_s=180, skill="general"), plain)
    assert plain.vars["wait_minutes"] == 7
    assert not await context.holds(Condition(queue_wait_over_s=180, skill="vip"), plain)


def test_end_of_turn_silence_is_an_editor_limit_within_the_vads_range(tmp_path):
    from bot.ivr.errors import HotlineConfigError

    shipped = (ROOT / "content" / "ivr.yml").read_text(encoding="utf-8")
    assert load_hotline_config(ROOT / "content" / "ivr.yml").end_of_turn_free_s > 0
    edited = tmp_path / "ivr.yml"
    edited.write_text(shipped.replace("end_of_turn_free_speech_seconds: 0.25", "end_of_turn_free_speech_seconds: 0.5"),
                      encoding="utf-8")
    assert load_hotline_config(edited).end_of_turn_free_s == 0.5
    edited.write_text(shipped.replace("end_of_turn_free_speech_seconds: 0.25", "end_of_turn_free_speech_seconds: 3"),
                      encoding="utf-8")
    with pytest.raises(HotlineConfigError, match="end_of_turn_free_speech_seconds"):
        load_hotline_config(edited)


def test_validate_names_a_number_prompt_that_is_not_a_response(kefu_env, tmp_path):
    import dataclasses

    from bot.editor.reference_checks import read_domain
    from bot.ivr.validation import number_prompt_problems

    domain = read_domain(kefu_env.root / "domain", [])
    assert number_prompt_problems(kefu_env, domain) == []
    config = tmp_path / "ivr.yml"
    shipped = (kefu_env.content_dir / "ivr.yml").read_text(encoding="utf-8")
    config.write_text(shipped.replace("utter_ask_identity,", "utter_ask_identiy,"), encoding="utf-8")
    [problem] = number_prompt_problems(dataclasses.replace(kefu_env, ivr_config_path=config), domain)
    assert "utter_ask_identiy" in problem.message


def test_the_pause_between_keys_is_one_flow_key_for_numbers_and_the_assistant():
    """``inter_digit_timeout_s``: 6 s unless the flow's ``defaults`` or the node says otherwise, for a
    collect_digits node and for a number the assistant asked for (it was a fixed 3 s there)."""
    text = GOOD.replace("nodes:", """defaults:
  inter_digit_timeout_s: 8
nodes:""") + """
  number:
    type: collect_digits
    say: 请输入
    length: 11
    next: bye
  quick:
    type: collect_digits
    say: 请输入
    length: 4
    inter_digit_timeout_s: 4
    next: bye
  assistant:
    type: bot
    next: bye
"""
    flow = parse_flow(text, "demo.yml", "demo")
    assert [flow.node(n).inter_digit_timeout_s for n in ("number", "quick", "assistant")] == [8, 4, 8]
    shipped = load_flow_file(ROOT / "ivr_flows" / "main.yml")
    assert {shipped.node(n).inter_digit_timeout_s for n in ("ask_account", "ask_callback_number", "bill_bot")} == {6}
    with pytest.raises(FlowError) as raised:
        parse_flow(text.replace("inter_digit_timeout_s: 4", "inter_digit_timeout_s: 90"), "demo.yml", "demo")
    assert (raised.value.node, raised.value.field) == ("quick", "inter_digit_timeout_s")


def test_unfinished_starts_are_whole_fragments_only():
    from bot.ivr.call_audio import unfinished_pattern

    starts = load_hotline_config(ROOT / "content" / "ivr.yml").unfinished_starts
    pattern = unfinished_pattern(starts)
    assert all(pattern.match(t) for t in ("我想", "嗯那个", "那个我想"))
    assert not any(pattern.match(t) for t in ("我想查话费", "查话费", "那个宽带"))
    assert unfinished_pattern(()) is None


def test_a_call_texts_the_caller_by_sms_only(tmp_path):
    """A call knows the caller's number, not a WeChat account: a text queued for WeChat from a call had
    no sender and no usable address, and waited forever while the caller heard that it was sent."""
    from bot.ivr.errors import HotlineConfigError

    with_notify = GOOD.replace("target: bye}", "target: tell}") + """  tell:
    type: notify
    channel: sms
    text: 自助指引 https://kefu.example.cn/help
    next: bye
    on_failure: bye
"""
    assert parse_flow(with_notify, "demo.yml", "demo").nodes["tell"].channel == "sms"
    with pytest.raises(FlowError) as raised:
        parse_flow(with_notify.replace("channel: sms", "channel: wechat"), "demo.yml", "demo")
    assert (raised.value.node, raised.value.field) == ("tell", "channel") and "WeChat" in raised.value.problem
    shipped = (ROOT / "content" / "ivr.yml").read_text(encoding="utf-8")
    edited = tmp_path / "ivr.yml"
    edited.write_text(shipped.replace("notify_channel: sms", "notify_channel: wechat"), encoding="utf-8")
    with pytest.raises(HotlineConfigError, match="notify_channel"):
        load_hotline_config(edited)
