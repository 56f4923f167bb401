"""The channels a customer's contact with Kefu comes in on, as the outcome record, the queue and the tickets
name them; the report and the agent desk show each by its text ``channel_<name>`` (content/ui/), and
``kefu validate`` names one missing (a page showed the code word, "sms"). Kept free of imports: `kefu report`
reads it."""
from __future__ import annotations

# The input channels customers talk to the assistant on (each one's ``name()``: tests/editor tie them).
CONVERSATION_CHANNELS = ("webchat", "wechat", "ivr", "rest")
# Where a voice message can come from: the phone, or a channel the outbox can send its written reply on.
VOICEMAIL_CHANNELS = ("ivr", "sms", "wechat", "rest")


def contact_channels() -> tuple[str, ...]:
    """Every channel a customer's contact may have in the outcome record (the report's rows)."""
    return tuple(dict.fromkeys(CONVERSATION_CHANNELS + VOICEMAIL_CHANNELS))
