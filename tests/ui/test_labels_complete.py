"""Every ticket kind and contact channel a page shows has a Chinese name in its page's labels."""
from __future__ import annotations

import json

import yaml

from tests.conftest import PROJECT_ROOT

CONTENT = PROJECT_ROOT / "content"


def page_labels(name: str) -> dict:
    return json.loads((CONTENT / "ui" / f"{name}.zh.json").read_text(encoding="utf-8"))


def test_every_ticket_kind_is_named_on_the_ledger_and_the_desk():
    """Found by a tester: the ledger showed "kind_handoff" for a ticket an agent opened."""
    kinds = yaml.safe_load((CONTENT / "labels.yml").read_text(encoding="utf-8"))["ticket_kind"]
    ledger, desk = page_labels("ledger"), page_labels("agent_desk")
    assert [k for k in kinds if f"kind_{k}" not in ledger] == []
    assert [k for k in kinds if f"ticket_kind_{k}" not in desk] == []


def test_every_contact_channel_is_named_on_the_desk():
    """Found by a tester: the customer overview listed an arrears reminder call as "channel_phone"."""
    rules = yaml.safe_load((CONTENT / "contacts.yml").read_text(encoding="utf-8"))["rules"]
    channels = {channel for rule in rules.values() for channel in rule.get("channels") or ()}
    desk = page_labels("agent_desk")
    assert channels and [c for c in sorted(channels) if f"channel_{c}" not in desk] == []
