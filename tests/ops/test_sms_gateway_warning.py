"""`kefu run` warns when no SMS gateway is set up, and starts anyway.

Found by an integrator: with real customers and no ``KEFU_SMS_GATEWAY_URL``, `kefu run` started
silently and every verification code stayed `pending` in the outbox; nobody was told why codes "never
arrive". The demo customers' numbers are fictitious, so the demo setup is not warned about.
"""
from __future__ import annotations

import argparse
import signal

import pytest

from bot import settings as settings_module

WARNING = "kefu: warning: no SMS gateway"


def start_until_the_servers(monkeypatch, capsys, **env: str) -> str:
    """`kefu run` with ``env`` up to the point it spawns the servers (made to fail there); what it printed."""
    from bot.cli import cmd_run
    from bot.stack import KefuStack, StartupError

    def start(*_args, **_kwargs):
        raise StartupError("stopped here by the test")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.setenv("KEFU_RASA_PORT", "7761")
    monkeypatch.setenv("KEFU_ACTION_PORT", "7762")
    # CI's redis-server keeps nothing, which `kefu run` refuses (README "Going live" 5): not this test's subject.
    monkeypatch.setenv("KEFU_ALLOW_VOLATILE_REDIS", "on")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cmd_run(argparse.Namespace()) == 1  # it went on to start: a warning, not a refusal
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        settings_module.get_settings.cache_clear()
    return capsys.readouterr().err


@pytest.mark.parametrize("env, warned", [
    ({"KEFU_DEMO_DATA": "off"}, True),                                   # real customers, no gateway
    ({"KEFU_DEMO_DATA": "off", "KEFU_SMS_GATEWAY_URL": "http://127.0.0.1:7763"}, True),  # no key: not used
    ({"KEFU_DEMO_DATA": "off", "KEFU_SMS_GATEWAY_URL": "http://127.0.0.1:7763",
      "KEFU_SMS_GATEWAY_KEY": "gw-key"}, False),                         # a gateway
    ({"KEFU_DEMO_DATA": "on"}, False),                                   # the demo's fictitious customers
])
def test_kefu_run_warns_without_an_sms_gateway(kefu_env, monkeypatch, capsys, env, warned):
    err = start_until_the_servers(monkeypatch, capsys, **env)
    assert (WARNING in err) is warned, err
    if warned:
        assert ("KEFU_SMS_GATEWAY_KEY" if "KEFU_SMS_GATEWAY_URL" in env else "KEFU_SMS_GATEWAY_URL") in err
