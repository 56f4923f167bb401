"""`kefu content render`: a narrated MP4 per catalogue entry; filmed videos win."""
from __future__ import annotations

import json
import subprocess

import pytest

from bot.editor.render import needs_render, output_paths, render_entry
from bot.media import media_file
from bot.selfhelp import load_catalogue
from voice.pcm import read_wav, rms_dbfs
from voice.tts import default_engine


def probe(path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height:format=duration", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


@pytest.fixture
def entry(project):
    from bot.settings import get_settings

    return load_catalogue(get_settings().selfhelp_catalogue).get("remote_pairing")


async def test_rendered_video_has_a_slide_per_step_and_narration(entry, tmp_path):
    media = tmp_path / "media"
    video = await render_entry(entry, media, default_engine())
    info = probe(video)
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["video"]["width"] == 1280
    assert kinds["audio"]["codec_name"] == "aac"
    assert float(info["format"]["duration"]) > 2.0 * (len(entry.steps) + 1)
    wav = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-ac", "1", "-ar", "16000", "-f", "wav", "-"],
                         check=True, capture_output=True).stdout
    assert rms_dbfs(read_wav(wav).samples) > -40, "the narration is audible"
    assert media_file(media, entry.video_url) == video
    assert not needs_render(entry, media)


async def test_steps_change_means_render_again_and_filmed_video_wins(entry, tmp_path):
    media = tmp_path / "media"
    _, _, marker = output_paths(entry, media)
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"hash": "old", "entry": entry.id}))
    assert needs_render(entry, media)
    filmed = media / entry.video_url.removeprefix("/media/")
    filmed.parent.mkdir(parents=True)
    filmed.write_bytes(b"filmed by the editor")
    assert not needs_render(entry, media)
    assert await render_entry(entry, media, default_engine()) is None
    assert media_file(media, entry.video_url) == filmed


@pytest.mark.parametrize("video", [
    {"url": "/media/../../outside.mp4"},
    {"url": "/media/{tmp}/outside.mp4"},  # an absolute remainder discards the folder it is joined to
    {"url": "/media/selfhelp/fine.mp4", "poster": "/media/../../outside.jpg"},
], ids=["video-dotdot", "video-absolute", "poster-dotdot"])
async def test_a_catalogue_path_leaving_the_media_folder_is_never_written(entry, tmp_path, video):
    """Found in review: the renderer joined the entry's /media/ paths to the folder as written, so an
    entry's poster `/media/../../x` (or a video) wrote outside it: `kefu run` renders missing videos at
    start without any validation, and could overwrite any file Kefu's user may write."""
    import dataclasses

    from bot.editor.render import RenderError

    around = tmp_path / "around"  # nothing in here but the media folder
    media = around / "deep" / "media"
    media.mkdir(parents=True)
    bad = dataclasses.replace(entry, video_url=video["url"].format(tmp=around), poster_url=video.get("poster", ""))
    assert not needs_render(bad, media)
    with pytest.raises(RenderError):
        await render_entry(bad, media, default_engine(), force=True)
    written = [p for p in around.rglob("*") if p.is_file()]
    assert written == []
