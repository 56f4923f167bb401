"""Turn Rasa's bot messages into what a WeChat official account can send.

WeChat has no buttons and no inline video, so:

* a text with payload buttons becomes text plus ``weixin://bizmsgmenu`` links — tapping one
  sends the button's title back with a ``bizmsgmenuid``, which the channel maps to the payload;
* link buttons become ``<a href>`` links in the text;
* a self-help message (text followed by a video attachment) becomes one news (图文) article
  whose picture is the poster and whose link opens the entry's page (video and steps, or the
  editor's own page), the video itself only when the text links to no page;
* Kefu's ``custom`` kinds: an agent message's text is sent as text; queue notices are
  web-only for now and skipped.

A passive reply carries one unit; the channel sends the rest as customer-service messages.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class TextUnit:
    content: str
    # The text without link markup, when it may become a news article's description
    # (None when it carries menu links that must stay tappable).
    plain: str | None = None
    # The page its link button opens, which a news article made of it opens too.
    page: str | None = None


@dataclass(frozen=True)
class NewsUnit:
    title: str
    description: str
    url: str
    picurl: str


Unit = Union[TextUnit, NewsUnit]


@dataclass
class MenuChoices:
    """Payloads and titles of the bizmsgmenu links sent in one turn, by menu id.

    Ids restart at 1 in every message, so an id alone names a link of the latest menu only; the
    title (which WeChat sends back as the text) tells an older message's link apart.
    """

    payloads: dict[str, str]
    titles: dict[str, str] = field(default_factory=dict)


def to_units(messages: list[dict[str, Any]]) -> tuple[list[Unit], MenuChoices]:
    units: list[Unit] = []
    menu = MenuChoices(payloads={})
    for message in messages:
        attachment = message.get("attachment")
        if isinstance(attachment, dict) and attachment.get("type") in ("video", "image"):
            units = _attach(units, attachment)
        if message.get("image"):
            units.append(NewsUnit(title="", description="", url=message["image"], picurl=message["image"]))
        buttons = message.get("buttons") or []
        text = _text_with_buttons(message.get("text") or "", buttons, menu)
        if text:
            has_menu = any(b.get("payload") and b.get("type") != "web_url" for b in buttons)
            page = next((str(b["url"]) for b in buttons if b.get("type") == "web_url" and b.get("url")), None)
            unit = TextUnit(text, None if has_menu else (message.get("text") or "").strip(), page)
            # A message's text comes before its attachment on the web; keep that order here.
            if attachment and units and isinstance(units[-1], NewsUnit):
                units.insert(len(units) - 1, unit)
            else:
                units.append(unit)
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("kind") == "agent_message" and custom.get("text"):
            units.append(TextUnit(str(custom["text"])))
    return _merge_text_into_news(units), menu


def _attach(units: list[Unit], attachment: dict[str, Any]) -> list[Unit]:
    payload = attachment.get("payload") or {}
    src = str(payload.get("src") or payload.get("url") or "")
    if not src:
        return units
    picurl = str(payload.get("poster") or (src if attachment.get("type") == "image" else ""))
    units.append(NewsUnit(title=str(payload.get("title") or ""), description="", url=src, picurl=picurl))
    return units


def _merge_text_into_news(units: list[Unit]) -> list[Unit]:
    """Text immediately followed by a news article becomes that article's description, and the article opens
    the text's page: opening the bare video lost the steps and the editor's own page (found in review)."""
    merged: list[Unit] = []
    for unit in units:
        previous = merged[-1] if merged else None
        if isinstance(unit, NewsUnit) and isinstance(previous, TextUnit) and previous.plain and not unit.description:
            said = merged.pop()
            text = said.plain or ""
            title, _, rest = text.partition("\n")
            url = said.page or unit.url
            if not unit.title:
                unit = NewsUnit(title=title, description=rest, url=url, picurl=unit.picurl)
            else:
                description = rest if title.strip() == unit.title.strip() else text
                unit = NewsUnit(title=unit.title, description=description, url=url, picurl=unit.picurl)
        merged.append(unit)
    return merged


def _text_with_buttons(text: str, buttons: list[dict[str, Any]], menu: MenuChoices) -> str:
    lines = [text.strip()] if text.strip() else []
    for button in buttons:
        title = str(button.get("title") or "")
        if button.get("type") == "web_url" or ("url" in button and "payload" not in button):
            lines.append(f'<a href="{html.escape(str(button.get("url", "")))}">{html.escape(title)}</a>')
        elif button.get("payload"):
            menu_id = str(len(menu.payloads) + 1)
            menu.payloads[menu_id] = str(button["payload"])
            menu.titles[menu_id] = title.strip()
            # WeChat's documented form: the raw title in the href, tapping sends it back as text.
            safe_title = html.escape(title)
            lines.append(f'<a href="weixin://bizmsgmenu?msgmenucontent={safe_title}&msgmenuid={menu_id}">'
                         f'{safe_title}</a>')
    return "\n".join(lines)


def merge_as_text(units: list[Unit]) -> TextUnit | None:
    """Everything as one text, for when only a passive reply is possible (no API credentials)."""
    parts = []
    for unit in units:
        if isinstance(unit, TextUnit):
            parts.append(unit.content)
        else:
            parts.append("\n".join(p for p in (unit.title, unit.description) if p))
            parts.append(f'<a href="{html.escape(unit.url)}">{html.escape(unit.title or unit.url)}</a>')
    text = "\n\n".join(p for p in parts if p)
    return TextUnit(text) if text else None


def custom_message(openid: str, unit: Unit) -> dict[str, Any]:
    """The JSON body of /cgi-bin/message/custom/send for one unit."""
    if isinstance(unit, TextUnit):
        return {"touser": openid, "msgtype": "text", "text": {"content": unit.content}}
    article = {"title": unit.title, "description": unit.description, "url": unit.url, "picurl": unit.picurl}
    return {"touser": openid, "msgtype": "news", "news": {"articles": [article]}}
