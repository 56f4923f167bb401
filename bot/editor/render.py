"""`kefu content render`: turn a catalogue entry's steps into a narrated step-by-step MP4.

One slide per step (the step text in a CJK font), the TTS voice reading it,
ffmpeg to assemble. Rendered files go to ``<media>/rendered/`` with a
``.rendered.json`` marker holding a hash of the entry (re-rendered when the
steps change); Kefu serves ``/media/x`` from ``<media>/x`` first, so a filmed
video an editor adds there replaces the rendered one.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.media import rendered_file
from bot.selfhelp import SelfHelpEntry

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
SIZE = (1280, 720)
BACKGROUND, TITLE_COLOUR, TEXT_COLOUR = (18, 52, 86), (255, 214, 102), (255, 255, 255)


class RenderError(RuntimeError):
    """A video could not be rendered (missing font or ffmpeg, or ffmpeg failed)."""


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    raise RenderError("no CJK font found: install fonts-wqy-microhei (make install does)")


def wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Break Chinese text by character to fit ``width`` pixels (it has no spaces to break at)."""
    lines, line = [], ""
    for char in text:
        if draw.textlength(line + char, font=font) > width:
            lines.append(line)
            line = char
        else:
            line += char
    return lines + [line] if line else lines


def slide(title: str, body: str, counter: str) -> Image.Image:
    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    title_font, body_font, small = cjk_font(44), cjk_font(54), cjk_font(30)
    draw.text((60, 50), title, font=title_font, fill=TITLE_COLOUR)
    y = 200
    for line in wrap(draw, body, body_font, SIZE[0] - 120):
        draw.text((60, y), line, font=body_font, fill=TEXT_COLOUR)
        y += 76
    draw.text((SIZE[0] - 160, SIZE[1] - 70), counter, font=small, fill=TITLE_COLOUR)
    return image


def entry_hash(entry: SelfHelpEntry) -> str:
    return hashlib.sha256(json.dumps([entry.title, list(entry.steps)], ensure_ascii=False).encode()).hexdigest()[:16]


def output_paths(entry: SelfHelpEntry, media_dir: Path) -> tuple[Path, Path, Path]:
    """Where a rendered video and poster go, and the marker beside them: always inside ``<media>/rendered/``.

    Found in review: the entry's paths were joined as written, so a poster ``/media/../../x`` (or
    ``/media//x``) was written outside the media folder, at ``kefu run``'s first-start render too.
    """
    video = rendered_file(media_dir, entry.video_url)
    own_poster = entry.poster_url.startswith("/media/")
    poster = rendered_file(media_dir, entry.poster_url) if own_poster else video and video.with_suffix(".jpg")
    if video is None or poster is None:
        leaving = entry.video_url if video is None else entry.poster_url
        raise RenderError(f"{leaving} is not a /media/ path inside the media folder (`kefu validate` names it)")
    return video, poster, video.with_suffix(".rendered.json")


def needs_render(entry: SelfHelpEntry, media_dir: Path) -> bool:
    """Whether the entry's narrated video is missing or stale; never for a path Kefu may not write."""
    if not entry.video_url.startswith("/media/"):
        return False
    try:
        _, _, marker = output_paths(entry, media_dir)
    except RenderError:
        return False
    if (media_dir / entry.video_url.removeprefix("/media/")).exists():
        return False  # filmed by an editor
    return not marker.exists() or json.loads(marker.read_text())["hash"] != entry_hash(entry)


def _ffmpeg(*args: str) -> None:
    try:
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, capture_output=True)
    except FileNotFoundError as exc:
        raise RenderError("ffmpeg is not installed (make install does)") from exc
    except subprocess.CalledProcessError as exc:
        raise RenderError(f"ffmpeg failed: {exc.stderr.decode(errors='replace')[-300:]}") from exc


async def render_entry(entry: SelfHelpEntry, media_dir: Path, tts, *, force: bool = False) -> Path | None:
    """Render ``entry`` to its /media/ path; returns the video path, or None if left alone."""
    video, poster, marker = output_paths(entry, media_dir)  # RenderError for a path leaving the media folder
    if not force and not needs_render(entry, media_dir):
        return None
    video.parent.mkdir(parents=True, exist_ok=True)
    pages = [(entry.title, entry.title)] + [(entry.title, step) for step in entry.steps]
    with tempfile.TemporaryDirectory(prefix="kefu-render-") as tmp:
        work = Path(tmp)
        segments = []
        for number, (title, text) in enumerate(pages):
            image = work / f"slide{number}.png"
            slide(title, text, f"{number}/{len(pages) - 1}" if number else "").save(image)
            if number == 0:
                slide(title, text, "").convert("RGB").save(poster, "JPEG", quality=85)
            audio = work / f"voice{number}.wav"
            audio.write_bytes(await tts.synthesize(text, sample_rate=16000))
            segment = work / f"segment{number}.mp4"
            await asyncio.to_thread(
                _ffmpeg, "-loop", "1", "-i", str(image), "-i", str(audio), "-af", "apad=pad_dur=0.6",
                "-c:v", "libx264", "-tune", "stillimage", "-pix_fmt", "yuv420p", "-r", "10",
                "-c:a", "aac", "-ar", "44100", "-shortest", str(segment),
            )
            segments.append(segment)
        playlist = work / "segments.txt"
        playlist.write_text("".join(f"file '{s}'\n" for s in segments))
        partial = video.with_suffix(".partial.mp4")
        await asyncio.to_thread(_ffmpeg, "-f", "concat", "-safe", "0", "-i", str(playlist), "-c", "copy",
                                "-movflags", "+faststart", str(partial))
        partial.replace(video)
    marker.write_text(json.dumps({"hash": entry_hash(entry), "entry": entry.id}))
    return video
