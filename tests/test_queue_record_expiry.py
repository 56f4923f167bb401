"""``KEFU_QUEUE_RECORD_EXPIRY_SECONDS`` shorter than the waiting room's grace periods is refused at start-up.

Found in review: the waiting room finishes a step cut off after its queue script (a customer's hand-back, a booked
callback's confirmation with its ticket number, "an agent joined", a transfer's events) 30 s after it, from the
finished queue record. Set to a few seconds, the record expired first: confirmed on a real Redis, a callback booking
cut off before its confirmation was handed back without a word (with the default, its ticket number was said).
"""
from __future__ import annotations

import pytest

from bot.handoff.handback import HANDBACK_GRACE_S
from bot.handoff.joined import JOIN_GRACE_S
from bot.handoff.transfer_owed import TRANSFER_GRACE_S
from bot.settings import QUEUE_RECORD_MIN_EXPIRY_S, SettingError, from_environment

NAME = "KEFU_QUEUE_RECORD_EXPIRY_SECONDS"


@pytest.mark.parametrize("value", ["1", "20", "30", "59"])
def test_a_record_expiry_within_the_grace_periods_is_refused_saying_why(value):
    with pytest.raises(SettingError, match=NAME) as refused:
        from_environment({NAME: value})
    assert f"{value!r}" in str(refused.value) and "at least 60" in str(refused.value)


def test_the_default_and_anything_from_the_minimum_are_taken():
    assert from_environment({}).queue_record_expiry_s == 7 * 24 * 3600
    assert from_environment({NAME: "60"}).queue_record_expiry_s == 60
    assert from_environment({NAME: "120"}).queue_record_expiry_s == 120


def test_the_minimum_outlasts_every_grace_the_waiting_room_finishes_steps_after():
    """A grace lengthened one day must raise the minimum with it: the look comes at the pass after the grace."""
    assert QUEUE_RECORD_MIN_EXPIRY_S >= 2 * max(HANDBACK_GRACE_S, JOIN_GRACE_S, TRANSFER_GRACE_S)
