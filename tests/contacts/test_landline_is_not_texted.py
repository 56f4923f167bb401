"""An agent may correct a customer's callback number to a landline (the desk takes one), and every later
contact of that customer goes to it. A landline cannot receive a text (the SMS gateway takes mainland
mobiles only), so a rule's SMS channel does not reach it: the worker moves on to the rule's next
channel, as for any channel that cannot reach the customer, instead of "texting" the landline until
the retries run out while a call would have reached them."""
from __future__ import annotations

from bot.contacts.schedule import Schedule
from bot.handoff.contact_details import ContactDetails
from bot.outbound.sms import SmsGateway
from tests.sms_loopback import sms_gateway  # noqa: F401  the loopback gateway fixture

OWING_PHONE = "13800000002"  # the demo customer with arrears (content/demo/seed.yml): rule [sms, phone]
LANDLINE = "057188880000"


async def test_an_arrears_reminder_to_a_landline_is_a_call_not_a_text(kefu_env, repository, make_worker, telephony,
                                                                      clock, sms_gateway):
    received, url = sms_gateway
    customer = repository.find_customer(phone=OWING_PHONE)
    ContactDetails(kefu_env.database_url).correct(customer, "callback_phone", LANDLINE, by="demo")
    worker = make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")})
    await worker.run_pass()

    calls = [c for c in telephony.calls if c.to == LANDLINE]
    assert [c.parameters.get("flow") for c in calls] == ["arrears"]
    reminder = next(c for c in Schedule(repository).listing(purpose="arrears") if c["customer_id"] == customer.id)
    assert (reminder["status"], reminder["channel"], reminder["attempts"]) == ("calling", "phone", 1)
    assert received == []


async def test_a_text_only_contact_for_a_landline_waits_for_a_channel_that_reaches_it(repository, make_worker,
                                                                                      clock, sms_gateway):
    """Nothing this worker has reaches a landline by text: the contact waits, no attempt is counted."""
    received, url = sms_gateway
    schedule = Schedule(repository)
    contact_id = schedule.add(dedupe_key="care_suspension:landline", purpose="care", rule="care_suspension",
                              due_at=clock.now, channels=["wechat", "sms"], phone=LANDLINE)
    await make_worker(messengers={"sms": SmsGateway(url, "key", "Kefu")}).run_pass()
    contact = schedule.get(contact_id)
    assert (contact["status"], contact["result"], contact["attempts"]) == ("scheduled", "no_channel", 0)
    assert schedule.attempts(contact_id) == []
    assert [m for m in received if LANDLINE in m["to"]] == []
