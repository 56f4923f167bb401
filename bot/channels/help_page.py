"""Serve ``/help/<entry id>``: a catalogue entry's own page (title, video, steps), built from the entry.

The link sent with a self-help answer goes here unless the editor gave the entry a page of
their own (``link`` in content/selfhelp.yml), so a fresh install's links work. The video is on
the page only once its file is there (``bot.media.media_ready``).
"""
from __future__ import annotations

import asyncio
from html import escape
from pathlib import Path
from string import Template

from sanic import Request, response
from sanic.exceptions import NotFound

from bot.media import media_ready
from bot.selfhelp import SelfHelpEntry, load_catalogue
from bot.settings import Settings

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "help"
PAGE = Template((WEB_DIR / "page.html").read_text(encoding="utf-8"))
HELP_PAGE_CSP = ("default-src 'self'; style-src 'self'; img-src 'self' https:; media-src 'self' https:; "
                 "script-src 'none'; frame-ancestors 'self'; base-uri 'none'")


def help_html(entry: SelfHelpEntry, media_dir: Path) -> str:
    video = ""
    if media_ready(media_dir, entry.video_url):
        poster = f' poster="{escape(entry.poster_url)}"' if media_ready(media_dir, entry.poster_url) else ""
        video = (f'    <video controls preload="metadata" playsinline src="{escape(entry.video_url)}"{poster}'
                 f' aria-label="{escape(entry.title)}"></video>')
    steps = "\n".join(f"      <li>{escape(step)}</li>" for step in entry.steps)
    return PAGE.substitute(title=escape(entry.title), video=video, steps=steps)


def page_for(settings: Settings, entry_id: str) -> str | None:
    entry = load_catalogue(settings.selfhelp_catalogue).get(entry_id)
    return help_html(entry, settings.media_dir) if entry is not None else None


async def help_response(_: Request, settings: Settings, entry_id: str) -> response.HTTPResponse:
    page = await asyncio.to_thread(page_for, settings, entry_id)  # file reads off the event loop
    if page is None:
        raise NotFound("no such self-help entry")
    return response.html(page,
                         headers={"Content-Security-Policy": HELP_PAGE_CSP, "X-Content-Type-Options": "nosniff",
                                  "Cache-Control": "no-cache"})
