"""Environment the shared test stack needs for the channel tests.

The Rasa server reads its settings once at start, so the WeChat credentials, the loopback
WeChat API address and a media folder with a generated self-help video are decided before
``running_kefu`` starts and the loopback server binds the reserved port later.
"""
from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import yaml

WECHAT_TOKEN = "kefu-test-token"
WECHAT_APP_ID = "wx0123456789abcdef"
WECHAT_APP_SECRET = "kefu-test-secret"
WECHAT_AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
SCRIPTED_ASR = "tests.channels.scripted_asr:ScriptedRecognizerForTests"


def make_media(media_dir: Path, catalogue: Path) -> None:
    """A tiny valid MP4 (and poster) for every self-help entry; skipped when ffmpeg is missing."""
    ffmpeg = shutil.which("ffmpeg")
    target = media_dir / "selfhelp"
    target.mkdir(parents=True, exist_ok=True)
    if ffmpeg is None:
        return
    video, poster = target / "_sample.mp4", target / "_sample.jpg"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=320x240:d=2",
                    "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(video)], check=True)
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(video), "-frames:v", "1", str(poster)], check=True)
    for entry in yaml.safe_load(catalogue.read_text(encoding="utf-8"))["entries"]:
        shutil.copyfile(video, target / f"{entry['id']}.mp4")
        shutil.copyfile(poster, target / f"{entry['id']}.jpg")


def channel_environment(tmp_root: Path, project_root: Path, environ: dict) -> dict:
    from bot.embedded_redis import free_port

    media_dir = tmp_root / "media"
    make_media(media_dir, project_root / "content" / "selfhelp.yml")
    env = {
        "KEFU_MEDIA_DIR": str(media_dir),
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": WECHAT_APP_SECRET,
        "WECHAT_AES_KEY": WECHAT_AES_KEY,
        "WECHAT_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
        # A short web-chat heartbeat: a cut signal is noticed within 8 s, not 45 (test_webchat_delivery_*).
        "KEFU_WEBCHAT_PING_INTERVAL_S": "4",
        "KEFU_WEBCHAT_PING_TIMEOUT_S": "4",
    }
    if not environ.get("VOSK_MODEL_PATH"):
        env["WECHAT_ASR_ENGINE"] = SCRIPTED_ASR
    return env
