"""Fixtures for the channel tests: the shared running stack, a loopback WeChat API, audio."""
from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlparse

import pytest

from tests.channels import stack_env
from tests.channels.wechat_client import WeChatServer
from tests.channels.wechat_loopback import WeChatLoopback
from tests.conftest import SHARED_SPEECH


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


@pytest.fixture(scope="session")
def amr_clip(tmp_path_factory) -> bytes:
    """A real Mandarin recording from ../shared/speech, encoded to AMR-NB the way WeChat stores voice."""
    clips = sorted(SHARED_SPEECH.glob("aishell1_*.wav")) if SHARED_SPEECH.is_dir() else []
    if not clips:
        pytest.skip(f"no speech clips at {SHARED_SPEECH} (../shared/speech is missing)")
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed (needed to encode AMR)")
    target = tmp_path_factory.mktemp("amr") / "voice.amr"
    subprocess.run([sox, str(clips[0]), "-r", "8000", "-c", "1", "-t", "amr-nb", str(target)], check=True)
    return target.read_bytes()


@pytest.fixture(scope="session")
def silent_amr(tmp_path_factory) -> bytes:
    sox = shutil.which("sox")
    if sox is None:
        pytest.skip("sox is not installed (needed to encode AMR)")
    target = tmp_path_factory.mktemp("amr") / "silence.amr"
    subprocess.run([sox, "-n", "-r", "8000", "-c", "1", "-t", "amr-nb", str(target), "trim", "0", "2"], check=True)
    return target.read_bytes()
