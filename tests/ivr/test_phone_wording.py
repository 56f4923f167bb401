"""A caller on a keypad is never told to "reply" (回复) something: every such reply has a phone variant.

Found by a tester: with the service password paused, the phone said 回复“转人工”, which a keypad
caller cannot do (and a 0 pressed there was taken as a digit of the code).
"""
from __future__ import annotations

import yaml

from tests.conftest import PROJECT_ROOT


def test_every_reply_that_asks_to_type_has_a_phone_variant():
    chat_only = []
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        for name, variants in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}).items():
            typed = any("回复" in variant.get("text", "") for variant in variants if not variant.get("channel"))
            if typed and not any(variant.get("channel") == "ivr" for variant in variants):
                chat_only.append(f"{path.name}: {name}")
    assert chat_only == []
