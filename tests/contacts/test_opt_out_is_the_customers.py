"""An opt-out is the customer's, whichever of their addresses it came from: a follow-up scheduled to
the number an agent corrected is not made once the customer opted out from their registered number."""
from __future__ import annotations

from bot.contacts.optout import opt_out
from bot.contacts.schedule import Schedule
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair


async def test_an_opt_out_of_the_registered_number_stops_a_call_to_the_corrected_one(kefu_env, repository,
                                                                                      make_worker, telephony):
    from bot.handoff.contact_details import ContactDetails

    customer = repository.find_customer(phone=CUSTOMER_PHONE)
    ContactDetails(kefu_env.database_url).correct(customer, "callback_phone", "13912345678", by="demo")
    ticket_id = resolved_repair(repository)
    # "别再给我打回访电话了", proven in a chat: the registered number is opted out (actions/opt_out.py)
    await opt_out(repository.url, [f"phone:{CUSTOMER_PHONE}"], conversation_id="optout-chat", channel="webchat",
                  via="assistant")
    await make_worker().run_pass()
    assert followup_calls(telephony, None) == []
    contact = next(c for c in Schedule(repository).listing() if c["ticket_id"] == ticket_id)
    assert contact["phone"] == "13912345678" and contact["status"] == "blocked" and contact["result"] == "opt_out"
