"""Which telephony account Kefu's automated calls go through: the operator's, or the demo carrier.

With ``KEFU_TELEPHONY_ACCOUNT_SID``/``KEFU_TELEPHONY_AUTH_TOKEN``/``KEFU_TELEPHONY_FROM`` set, calls go
to that Twilio-format REST API. With no telephony account at all, a development machine
(``KEFU_PUBLIC_URL`` on loopback, or ``KEFU_DEMO_CARRIER=on``) gets the demo carrier built into the
Rasa server (:mod:`bot.contacts.demo_carrier`), which speaks the same Calls.json protocol and rings
the browser softphone instead of a phone — so ``make run`` shows a follow-up call end to end through
the real dialer. ``KEFU_DEMO_CARRIER=off`` turns it off; a configured account always wins.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlparse

DEMO_ACCOUNT_SID = "AC" + "kefudemo".ljust(32, "0")
DEMO_FROM = "+864008000000"   # the demo hotline's number, shown on the softphone as the caller
DEMO_API_PATH = "/webhooks/ivr/demo-carrier"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CarrierAccount:
    api_url: str
    account_sid: str
    auth_token: str
    from_number: str
    demo: bool


def demo_carrier_on(settings) -> bool:
    """The demo carrier serves when no telephony account is configured and this is a dev machine."""
    if settings.telephony_account_sid or settings.telephony_auth_token:
        return False
    mode = settings.demo_carrier
    if mode == "on":
        return True
    return mode == "auto" and urlparse(settings.public_url).hostname in LOOPBACK_HOSTS


def demo_auth_token(channel_secret: str) -> str:
    """The demo account's auth token, derived from the installation's channel secret (no new secret file)."""
    return hmac.new(channel_secret.encode(), b"kefu-demo-carrier", hashlib.sha256).hexdigest()


def _operator_account_set(settings) -> bool:
    return bool(settings.telephony_account_sid and settings.telephony_auth_token and settings.telephony_from)


def places_calls(settings) -> bool:
    """Whether Kefu places automated calls, known without the demo account's token (which reads, and on
    a first start creates, the shared secrets: `kefu contacts plan` writes nothing)."""
    return _operator_account_set(settings) or demo_carrier_on(settings)


def carrier_account(settings, channel_secret: str | None = None) -> CarrierAccount | None:
    """The account automated calls and status callbacks use; None when Kefu places no calls."""
    if not places_calls(settings):
        return None
    if _operator_account_set(settings):
        return CarrierAccount(settings.telephony_api_url, settings.telephony_account_sid,
                              settings.telephony_auth_token, settings.telephony_from, demo=False)
    if channel_secret is None:
        from bot.security.secrets import load_secrets

        channel_secret = load_secrets(settings).channel_secret
    return CarrierAccount(f"{settings.rasa_url}{DEMO_API_PATH}", DEMO_ACCOUNT_SID, demo_auth_token(channel_secret),
                          settings.telephony_from or DEMO_FROM, demo=True)
