"""/media/ serves an editor's own file before a rendered one, and supports range requests."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from bot.media import RENDERED

pytestmark = pytest.mark.slow


def fetch(url: str, **headers) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_filmed_video_replaces_the_rendered_one(running_kefu):
    media = running_kefu.settings.media_dir
    rendered = media / RENDERED / "editor-test" / "clip.mp4"
    rendered.parent.mkdir(parents=True, exist_ok=True)
    rendered.write_bytes(b"rendered-video-bytes")
    url = f"{running_kefu.settings.rasa_url}/media/editor-test/clip.mp4"
    assert fetch(url) == (200, b"rendered-video-bytes")
    assert fetch(url, Range="bytes=0-7") == (206, b"rendered")

    filmed = media / "editor-test" / "clip.mp4"
    filmed.parent.mkdir(parents=True, exist_ok=True)
    filmed.write_bytes(b"filmed-by-editor")
    assert fetch(url) == (200, b"filmed-by-editor")


def test_no_escape_from_the_media_folder(running_kefu):
    base = running_kefu.settings.rasa_url
    assert fetch(f"{base}/media/../credentials.yml")[0] == 404
    assert fetch(f"{base}/media/%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert fetch(f"{base}/media/missing.mp4")[0] == 404
    # An absolute path after /media/ has no ".." in it, yet named the file itself (found by a probe).
    outside = running_kefu.settings.data_dir / "not-media.txt"
    outside.write_text("kept out of /media/", encoding="utf-8")
    for path in ("/etc/passwd", str(outside.resolve()), "/proc/self/environ"):
        assert fetch(f"{base}/media/{path}") == (404, b""), path
        assert fetch(f"{base}/media/rendered/..{path}") == (404, b""), path
