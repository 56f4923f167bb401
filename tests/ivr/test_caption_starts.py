"""Each caption the softphone shows starts with what is said, not with a space or a line break.

Found in review: the bill's summary (utter_bill_summary: "…余额 -318.00 元。\\n最近账单：\\n…") is played a
sentence at a time, and the sentences after the first were captioned "\\n最近账单：…", starting on an
empty line. Playback driven directly with the shipped response, the softphone's caption frames read.
"""
from __future__ import annotations

import yaml

from bot.ivr.events import Say
from bot.ivr.playback import Playback
from tests.conftest import PROJECT_ROOT
from tests.ivr.test_announcement_spacing import Line, Voice, until


class CaptionedLine(Line):
    """A line whose caller asked for captions (the softphone's ``captions=1``)."""

    def caption(self, text: str) -> str:
        return f"caption:{text}"

    def captions(self) -> list[str]:
        return [detail for kind, detail in self.sent if kind == "caption"]


def bill_summary() -> str:
    responses = yaml.safe_load((PROJECT_ROOT / "domain" / "responses.yml").read_text(encoding="utf-8"))["responses"]
    template = responses["utter_bill_summary"][0]["text"]
    lines = "\n".join(["2026年11月：159.00元（未缴）", "2026年10月：159.00元（未缴）"])
    return template.format(customer_name="李娜", balance="-318.00", bill_lines=lines)


async def test_the_bill_summarys_captions_start_with_words():
    line = CaptionedLine()
    playback = Playback(line.send, line, Voice())
    try:
        playback.enqueue(Say(bill_summary(), label="bill"))
        await until(lambda: "bill" in line.marks(), "the bill to be said")
    finally:
        await playback.close()
    captions = line.captions()
    assert len(captions) >= 2, captions
    assert [c for c in captions if c != c.lstrip()] == [], captions
    assert "最近账单" in "".join(captions)
