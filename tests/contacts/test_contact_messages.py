"""Text contacts: an arrears reminder by SMS through the gateway's loopback, worded by the editors'
file with the opt-out footer; a "TD" reply opts the number out of the next reminder."""
from __future__ import annotations

from bot.contacts.optout import opt_out_reply
from bot.contacts.schedule import Schedule
from bot.contacts.rules import load_rules
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import sms_gateway  # noqa: F401  the loopback gateway fixture

OWING_PHONE = "13800000002"  # the demo customer with arrears of 318.00 (content/demo/seed.yml)


async def test_arrears_reminder_by_sms_then_td_opts_out(kefu_env, repository, make_worker, clock, telephony,
                                                        sms_gateway):
    received, url = sms_gateway
    worker = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
    await worker.run_pass()
    texts = [m["text"] for m in received if m["to"] == f"+86{OWING_PHONE}"]
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    assert len(texts) == 1 and "318.00" in texts[0] and texts[0].endswith(rules.opt_out_footer)
    assert not [c for c in telephony.calls if c.to == OWING_PHONE]  # sms comes first for this rule
    reply = await opt_out_reply(kefu_env, address=f"phone:{OWING_PHONE}", text=" TD ",
                                conversation_id=f"sms:{OWING_PHONE}", channel="sms")
    assert reply == rules.opt_out_reply
    assert await opt_out_reply(kefu_env, address=f"phone:{OWING_PHONE}", text="我要交费",
                               conversation_id=f"sms:{OWING_PHONE}", channel="sms") is None
    clock.advance(days=31)  # next month's reminder is not sent
    await worker.run_pass()
    assert len([m for m in received if m["to"] == f"+86{OWING_PHONE}"]) == 1
    arrears = Schedule(repository).listing(purpose="arrears")
    assert [c["status"] for c in arrears] == ["done", "blocked"]
    kinds = [e["kind"] for e in repository.events_for(f"sms:{OWING_PHONE}")]
    assert kinds == ["contact_opted_out"]


def test_contacts_file_errors_name_the_problem(tmp_path, kefu_env):
    import pytest
    import yaml

    from bot.contacts.rules import ContactRulesError

    good = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    cases = [
        (lambda r: r.update(timezone="Mars/Base"), "timezone must be an IANA zone"),
        (lambda r: r["quiet_hours"].update(start="9pm"), "quiet_hours.start must be a time"),
        (lambda r: r["rules"]["repair_followup"].pop("flow"), "repair_followup: the phone channel needs a `flow`"),
        (lambda r: r["rules"]["repair_followup"].update(channels=["fax"]), "rules.repair_followup.channels"),
        (lambda r: r["rules"]["arrears_reminder"].update(trigger="birthday"), "arrears_reminder.trigger must be"),
        (lambda r: r.pop("opt_out_footer"), "opt_out_footer is required"),
        # Found in review: a message that does not fill was sent as written, "工单{ticket_id}" and all.
        (lambda r: r["rules"]["repair_followup"].update(message="{name}您好，工单{ticket_id}已处理。"),
         r"repair_followup.message names \{name\}, which a ticket_resolved contact does not have"),
        (lambda r: r["rules"]["arrears_reminder"].update(message="您的工单{ticket_id}欠费{amount}元"),
         r"arrears_reminder.message names \{ticket_id\}.*it may name \{amount\}"),
        # Found in review: only the first of two names was given, and the editor's fix still left the other.
        (lambda r: r["rules"]["repair_followup"].update(message="{name}您好，{ticket}已处理。"),
         r"repair_followup.message names \{name\}, \{ticket\}, which a ticket_resolved contact does not have"),
        (lambda r: r["rules"]["arrears_reminder"].update(message="您已欠费{amount:d}元"),
         r"arrears_reminder.message cannot be filled in"),
        (lambda r: r["rules"]["arrears_reminder"].update(message="您已欠费｛amount｝元"),
         r"arrears_reminder.message writes ｛amount｝ with full-width braces"),
    ]
    for edit, problem in cases:
        raw = yaml.safe_load(yaml.safe_dump(good))
        edit(raw)
        path = tmp_path / "contacts.yml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        with pytest.raises(ContactRulesError, match=problem.replace("`", ".")):
            load_rules(path)


def test_validate_reports_a_rule_naming_a_missing_flow(tmp_path, kefu_env):
    import dataclasses

    import yaml

    from bot.contacts.validation import contact_problems

    assert contact_problems(kefu_env, None) == []
    raw = yaml.safe_load((kefu_env.content_dir / "contacts.yml").read_text(encoding="utf-8"))
    raw["rules"]["repair_followup"]["flow"] = "no_such_flow"
    content = tmp_path / "content"
    content.mkdir()
    (content / "contacts.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    problems = contact_problems(dataclasses.replace(kefu_env, content_dir=content), None)
    assert [p.message for p in problems] == ["rules.repair_followup.flow: no file ivr_flows/no_such_flow.yml"]


class FixedToken:
    """What the template sender needs of the WeChat API client: its base URL and an access token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def access_token(self, refresh: bool = False) -> str:
        return "token-1"


async def test_care_after_a_suspension_goes_to_the_bound_wechat_follower(kefu_env, repository, make_worker, clock,
                                                                        wechat_template_api):
    from bot.db.schema import channel_bindings
    from bot.outbound.wechat_template import WeChatTemplateSender

    sent, url = wechat_template_api
    customer = repository.find_customer(phone="13800000003")
    with repository.engine.begin() as conn:
        conn.execute(channel_bindings.insert().values(channel="wechat", external_id="openid-care",
                                                      customer_id=customer.id))
    ticket_id = repository.create_ticket(kind="service_change", customer_id=customer.id, summary="suspend",
                                         details={"service_action": "suspend"}, channel="wechat")
    repository.move_ticket(ticket_id, "resolved")
    worker = make_worker(messengers={"wechat": WeChatTemplateSender(FixedToken(url), "TPL-CARE")})
    await worker.run_pass()
    assert sent == []  # care comes 48 hours after the suspension
    clock.advance(days=1)
    await worker.run_pass()
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    assert [(m["touser"], m["template_id"]) for m in sent] == [("openid-care", "TPL-CARE")]
    assert sent[0]["data"]["keyword1"]["value"] == rules.rules["care_suspension"].message + rules.opt_out_footer
    care = [c for c in Schedule(repository).listing(purpose="care") if c["ticket_id"] == ticket_id]
    assert [(c["status"], c["channel"], c["result"]) for c in care] == [("done", "wechat", "sent")]


async def test_an_sms_reply_td_from_the_gateway_opts_out(kefu_env, repository):
    """The webhook's handling (a second Sanic app cannot start in one test process: Sanic 21.12's touch-up)."""
    import dataclasses

    from bot.channels.sms_replies import SmsRepliesInput

    channel = SmsRepliesInput(dataclasses.replace(kefu_env, sms_gateway_key="gw-key"))
    status, _ = await channel.reply("", {"from": "+8613800000002", "text": "TD"})
    assert status == 401  # only the gateway, with its key
    status, answer = await channel.reply("Bearer gw-key", {"from": "+8613800000002", "text": "好的"})
    assert status == 200 and answer["opted_out"] is False
    assert Schedule(repository).blocked("phone:13800000002") is None
    assert (await channel.reply("Bearer gw-key", {"from": "12345", "text": "TD"}))[0] == 400
    status, answer = await channel.reply("Bearer gw-key", {"from": "+8613800000002", "text": "TD"})
    assert status == 200 and answer["opted_out"] is True
    assert Schedule(repository).blocked("phone:13800000002") == "opt_out"
    rules = load_rules(kefu_env.content_dir / "contacts.yml")
    assert [(m["recipient"], m["payload"]["text"]) for m in repository.outbound(channel="sms")] == \
        [("13800000002", rules.opt_out_reply)]


async def test_td_as_a_phone_keyboard_writes_it_opts_out_too(kefu_env, repository):
    """An iPhone writes "td" as "Td", a Chinese keyboard in full-width mode as "ＴＤ", and people add
    a full stop: each asked to stop, and was answered nothing and kept receiving reminders."""
    import dataclasses

    from bot.channels.sms_replies import SmsRepliesInput

    channel = SmsRepliesInput(dataclasses.replace(kefu_env, sms_gateway_key="gw-key"))
    replies = {"13800000001": "Td", "13800000002": "ＴＤ", "13800000003": " td。", "13800000004": "退订！"}
    for phone, text in replies.items():
        status, answer = await channel.reply("Bearer gw-key", {"from": f"+86{phone}", "text": text})
        assert status == 200 and answer["opted_out"] is True, text
        assert Schedule(repository).blocked(f"phone:{phone}") == "opt_out", text
    status, answer = await channel.reply("Bearer gw-key", {"from": "+8613800000001", "text": "TD是什么意思"})
    assert answer["opted_out"] is False


async def test_a_reply_the_gateway_posts_again_is_confirmed_once(kefu_env, repository, redis_url):  # noqa: F811
    """A gateway that did not hear Kefu's answer in time posts the reply again, with its message_id:
    each attempt opted the number out again and queued another "您已成功退订" text."""
    import dataclasses
    import uuid

    from bot.channels.sms_replies import SmsRepliesInput

    settings = dataclasses.replace(kefu_env, sms_gateway_key="gw-key",
                                   redis=dataclasses.replace(kefu_env.redis, url=redis_url))
    reply = {"from": "+8613800000003", "text": "TD", "message_id": f"mo-{uuid.uuid4().hex}"}
    answers = [await SmsRepliesInput(settings).reply("Bearer gw-key", dict(reply)) for _ in range(2)]
    assert [status for status, _ in answers] == [200, 200] and answers[0][1]["opted_out"] is True
    assert len(repository.outbound(channel="sms")) == 1
    assert [e["kind"] for e in repository.events_for("sms:13800000003")] == ["contact_opted_out"]
