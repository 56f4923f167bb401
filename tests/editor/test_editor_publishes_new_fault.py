"""The editors' promise, end to end: a new fault code with its video and examples goes live
through `kefu validate` and `kefu train` while the bot keeps running — no restart, no developer."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import urllib.request

import pytest

from bot import settings as settings_module
from bot.editor.commands import cmd_train, cmd_validate
from bot.embedded_redis import free_port
from bot.security.secrets import load_secrets
from bot.stack import KefuStack
from tests.conftest import PROJECT_ROOT
from tests.editor.conftest import edit
from tests.trainings import RASA_CACHE

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

NEW_ENTRY = """
  - id: tv_e301
    fault_type: fault_tv
    symptoms: [联网失败, 网络机顶盒]
    fault_codes: [E301]
    title: 机顶盒提示E301（无法联网）
    steps:
      - 检查机顶盒网线是否插在光猫的IPTV口。
      - 先重启光猫，2分钟后再重启机顶盒。
    video: {url: /media/selfhelp/tv_e301.mp4, poster: /media/selfhelp/tv_e301.jpg}
    spoken: 请检查机顶盒网线是否插在光猫的IPTV口，然后先重启光猫，再重启机顶盒。
    next: tv_general_reset
"""
NEW_EXAMPLES = "".join(f"    - {text}\n" for text in (
    "机顶盒显示[E301](fault_code)", "电视上提示[E301](fault_code)联网失败", "网络机顶盒报[E301](fault_code)了",
    "喂 机顶盒出现[e301](fault_code)咋整", "IPTV一直显示[E301](fault_code)",
))


def ask(url: str, sender: str, text: str) -> list[dict]:
    request = urllib.request.Request(f"{url}/webhooks/rest/webhook", data=json.dumps({"sender": sender, "message": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.loads(reply.read())


# Two trainings in one test: its set-up waits for the served model's (the suite's first), its call trains the edit.
# A CI run with the machine shared (run109: 681 s set-up, 226 s call) passed the suite's 900 s limit, which is for a
# test that hangs; this one is still cut off if a training hangs.
@pytest.mark.timeout(1800)
def test_new_fault_code_goes_live_without_restart(trained_model, project, monkeypatch, capsys):
    # trained_model: the served model this edit starts from, trained once per run for the whole suite.
    for name in ("credentials.yml", "endpoints.yml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    # The models, and Rasa's training cache, of the project this copy was made from: an editor's
    # own project keeps both from when its served model was trained, so only what the edit touched
    # trains again (the NLU; stories and rules are unchanged). The suite trains the served model with
    # this cache folder by its absolute path (tests/trainings.py), so this copy's training finds it.
    # One Rasa worker: each worker loads the model at the start and again at the swap (13 s of CPU each on an idle core,
    # more beside the suite), and nothing here asserts on a second one; swapping into several workers is
    # tests/ops/test_instance_lifecycle.py's (a hot swap and a follow into two).
    env = {"KEFU_MODELS_DIR": str(PROJECT_ROOT / "models"),
           "RASA_CACHE_DIRECTORY": str(RASA_CACHE), "KEFU_WORKERS": "1",
           "KEFU_RASA_PORT": str(free_port()), "KEFU_ACTION_PORT": str(free_port()), "KEFU_EDITOR": "editor-test"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings_module.get_settings.cache_clear()
    settings = settings_module.get_settings()
    with KefuStack(settings) as stack:
        served_before = stack.model.name
        # The editor's change: a catalogue entry, its (filmed) video, training examples.
        catalogue = project / "content" / "selfhelp.yml"
        catalogue.write_text(catalogue.read_text(encoding="utf-8") + NEW_ENTRY, encoding="utf-8")
        video = settings.media_dir / "selfhelp" / "tv_e301.mp4"
        video.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=blue:s=320x240:d=1",
                        "-pix_fmt", "yuv420p", str(video)], check=True)
        edit(project / "nlu_data" / "nlu" / "faults.yml", "- intent: fault_tv\n  examples: |\n",
             "- intent: fault_tv\n  examples: |\n" + NEW_EXAMPLES)

        assert cmd_validate(argparse.Namespace(quick=True)) == 0
        assert cmd_train(argparse.Namespace()) == 0
        output = capsys.readouterr().out
        assert "live:" in output and "published by editor-test" in output

        token = load_secrets(settings).rasa_token
        status = json.loads(urllib.request.urlopen(f"{settings.rasa_url}/status?token={token}", timeout=10).read())
        assert status["model_file"].endswith(".tar.gz") and not status["model_file"].endswith(served_before)
        replies = ask(settings.rasa_url, "editor-e2e", "我家机顶盒显示E301")
        video_reply = next(r["attachment"] for r in replies if "attachment" in r)
        assert video_reply["payload"]["src"].endswith("/media/selfhelp/tv_e301.mp4")
        served = urllib.request.urlopen(video_reply["payload"]["src"], timeout=10)
        assert served.status == 200 and served.read() == video.read_bytes()
