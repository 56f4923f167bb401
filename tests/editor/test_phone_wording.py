"""What callers hear is written to be heard: no letters, codes or digit strings the synthesiser misreads.

espeak-ng says "88开头" as 八十八开头 and "E102" as E一百零二; the phone gets a response's `channel: ivr`
variant when it has one, else the chat text (found by a copy review).
"""
from __future__ import annotations

import re

import yaml

from tests.conftest import PROJECT_ROOT
from voice.speakable import speakable


def responses() -> dict:
    found = {}
    for path in sorted((PROJECT_ROOT / "domain").glob("*.yml")):
        found.update((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {})
    return found


def heard_on_the_phone(variants: list[dict]) -> list[dict]:
    """Rasa's choice for the ivr channel: its own variants if any, else the ones for every channel."""
    return [v for v in variants if v.get("channel") == "ivr"] or [v for v in variants if not v.get("channel")]


def flow_prompts() -> list[tuple[str, str]]:
    prompts = []
    for path in sorted((PROJECT_ROOT / "ivr_flows").glob("*.yml")):
        flow = yaml.safe_load(path.read_text(encoding="utf-8"))
        prompts += [(f"{path.name}: hold", (flow.get("hold") or {}).get("reminder") or "")]
        for node_id, node in (flow.get("nodes") or {}).items():
            prompts += [(f"{path.name}: {node_id}.{key}", text) for key, text in node.items()
                        if key.endswith("say") and isinstance(text, str)]
    return prompts


def test_the_phone_fault_questions_have_no_codes_or_letters_and_keep_their_keys():
    for name, variants in responses().items():
        if not name.startswith("utter_ask_fault_detail_"):
            continue
        chat = [v for v in variants if not v.get("channel")]
        for variant in heard_on_the_phone(variants):
            text = variant["text"]
            assert not re.search(r"[A-Za-z]|\d{3,}", text), f"{name}: the phone hears {text!r}"
            assert variant.get("buttons") == chat[0].get("buttons"), f"{name}: the phone's keys differ from chat's"


def test_a_number_prefix_is_said_digit_by_digit():
    """"八八开头的10位账号", not "八十八开头"."""
    texts = [(name, v["text"]) for name, variants in responses().items()
             for v in heard_on_the_phone(variants) if v.get("text")]
    for where, text in texts + flow_prompts():
        assert not re.search(r"\d{2,}开头", speakable(text)), f"{where}: {text!r}"
