"""The outbox holds back a text Kefu sends on its own to someone who opted out (TD, 客户要求不再联系) or whose number
is on the do-not-disturb list, as the contact worker skips them: one check, where every such text is queued
(``bot.notify.OutboxNotifier``). Found in review: a lost call's ticket SMS and a repair's SMS went to opted-out
numbers. What the person asks for in a live conversation still goes (a verification code, a link a caller asks to
be texted, the confirmation of their TD): refusing a code would keep an opted-out customer from proving who they
are. Real database, as the contact worker's tests."""
from __future__ import annotations

import pytest

from bot.contacts.optout import opt_out
from bot.contacts.schedule import Schedule
from bot.notify import OutboxNotifier, Withheld
from tests.contacts.conftest import CUSTOMER_PHONE


def queued_to(repository, recipient: str) -> list[str]:
    return [row["kind"] for row in repository.outbound(limit=1000) if row["recipient"] == recipient]


@pytest.mark.parametrize("kind", ["verification_code", "ivr_links", "ivr_notify", "opt_out"])
async def test_what_the_customer_asks_for_now_still_goes_after_an_opt_out(kefu_env, repository, kind):
    await opt_out(repository.url, [f"phone:{CUSTOMER_PHONE}"], conversation_id="td", channel="sms", via="reply")
    await OutboxNotifier.from_settings(kefu_env, repository).send(
        CUSTOMER_PHONE, {"channel": "sms", "kind": kind, "text": "验证码123456"})
    assert queued_to(repository, CUSTOMER_PHONE) == [kind]


async def test_an_opt_out_of_the_registered_number_holds_back_a_text_to_the_corrected_one(kefu_env, repository):
    """The opt-out is the customer's, as for the contact worker (test_opt_out_is_the_customers.py): a lost call's
    ticket SMS to the number an agent corrected is held back too."""
    from bot.handoff.contact_details import ContactDetails

    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    ContactDetails(kefu_env.database_url).correct(customer, "callback_phone", "13912345678", by="demo")
    await opt_out(repository.url, [f"phone:{CUSTOMER_PHONE}"], conversation_id="td", channel="sms", via="reply")
    ticket_id = repository.create_ticket(kind="handoff", customer_id=customer.id, summary="通话中断")
    notifier = OutboxNotifier.from_settings(kefu_env, repository)
    with pytest.raises(Withheld) as held:
        await notifier.send_template("13912345678", "sms", "agent_ticket_filed", customer_id=customer.id,
                                     ticket_id=ticket_id)
    assert held.value.reason == "opt_out" and not held.value.transient
    assert queued_to(repository, "13912345678") == []
    # Spelled as a gateway or a person writes it, the number is the same number.
    with pytest.raises(Withheld):
        await notifier.send_template("+86 138-0000-0001", "sms", "repair_registered", ticket_id=ticket_id)


async def test_a_wechat_account_on_the_do_not_disturb_list_gets_no_self_help_reply(kefu_env, repository):
    """A voice message's self-help reply is a text Kefu sends on its own too (the voice message then goes to an
    agent, bot/voicemail: nothing is lost)."""
    from bot.selfhelp import load_catalogue

    Schedule(repository).block("wechat:o-follower", "dnd", "cli")
    entry = next(iter(load_catalogue(kefu_env.content_dir / "selfhelp.yml").entries.values()))
    with pytest.raises(Withheld) as held:
        await OutboxNotifier.from_settings(kefu_env, repository).send_selfhelp("o-follower", "wechat", entry)
    assert held.value.reason == "dnd" and queued_to(repository, "o-follower") == []
