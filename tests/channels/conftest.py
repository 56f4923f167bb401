"""Fixtures for the channel tests: the shared running stack, a loopback WeChat API, audio."""
from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlparse

import pytest
from sanic import Sanic

from tests.channels import stack_env
from tests.channels.wechat_client import WeChatServer
from tests.channels.wechat_loopback import WeChatLoopback

# Several channels are served in process in one run (test_channel_config, test_wechat_without_recogniser).
# Sanic rewrites some of its own methods when an app starts (TouchUp); a second app in the process can
# only do so in test mode, which keeps the originals (what sanic-testing sets).
Sanic.test_mode = True


@pytest.fixture(scope="session")
def wechat_api(running_kefu):
    """The loopback WeChat API on the port the Rasa server was told about."""
    port = urlparse(running_kefu.settings.env["WECHAT_API_BASE_URL"]).port
    server = WeChatLoopback(stack_env.WECHAT_APP_ID, stack_env.WECHAT_APP_SECRET, port).start()
    yield server
    server.stop()


@pytest.fixture
def wechat(running_kefu, wechat_api) -> WeChatServer:
    return WeChatServer(url=f"{running_kefu.settings.rasa_url}/webhooks/wechat/webhook")


SPOKEN_FAULT = "宽带上不了网"  # in the test Vosk model's words (../shared/models/README.md)


@pytest.fixture(scope="session")
def amr_clip(tmp_path_factory) -> bytes:
    """Kefu's TTS saying SPOKEN_FAULT, encoded to AMR-NB the way WeChat stores voice."""
    from tests.speech import spoken
    from voice.pcm import pcm_to_wav_bytes

    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed (needed to encode AMR)")
    folder = tmp_path_factory.mktemp("amr")
    (folder / "voice.wav").write_bytes(pcm_to_wav_bytes(spoken(SPOKEN_FAULT, 16000), 16000))
    target = folder / "voice.amr"
    subprocess.run([sox, str(folder / "voice.wav"), "-r", "8000", "-c", "1", "-t", "amr-nb", str(target)], check=True)
    return target.read_bytes()


@pytest.fixture(scope="session")
def silent_amr(tmp_path_factory) -> bytes:
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed (needed to encode AMR)")
    target = tmp_path_factory.mktemp("amr") / "silence.amr"
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-t", "amr-nb", str(target), "trim", "0", "2"], check=True)
    return target.read_bytes()
