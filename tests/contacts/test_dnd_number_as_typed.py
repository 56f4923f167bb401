"""`kefu contacts dnd NUMBER` takes a number as an operator types or pastes it: "+86 138-0000-0001" is the
customer 13800000001. The block list keeps numbers as the schedule does (11 digits), so a number kept
as typed ("phone:+86 138-0000-0001") blocked no one while the command said "do not disturb"; something
that is no phone number is refused with a reason, not put on the list."""
from __future__ import annotations

from bot.cli import main
from bot.contacts.schedule import Schedule
from tests.contacts.conftest import CUSTOMER_PHONE, followup_calls, resolved_repair


async def test_a_number_typed_with_country_code_and_dashes_stops_the_follow_up(kefu_env, repository, make_worker,
                                                                                telephony, capsys):
    assert main(["contacts", "dnd", "+86 138-0000-0001"]) == 0
    assert f"phone:{CUSTOMER_PHONE}: do not disturb" in capsys.readouterr().out
    resolved_repair(repository)
    await make_worker().run_pass()
    assert followup_calls(telephony) == []

    assert main(["contacts", "dnd", "--remove", "phone:+8613800000001"]) == 0
    assert Schedule(repository).blocked(f"phone:{CUSTOMER_PHONE}") is None


def test_a_landline_is_kept_as_the_desk_keeps_it_and_junk_is_refused(kefu_env, repository, capsys):
    assert main(["contacts", "dnd", "0571-8888 0000"]) == 0
    assert Schedule(repository).blocked("phone:057188880000") == "dnd"
    capsys.readouterr()
    assert main(["contacts", "dnd", "1380000"]) == 2
    assert "not a phone number" in capsys.readouterr().err
    assert main(["contacts", "dnd", "wechat:"]) == 2
    assert main(["contacts", "dnd", "fax:123"]) == 2
