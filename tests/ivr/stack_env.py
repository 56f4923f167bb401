"""Environment the shared test stack needs for the IVR tests.

The Rasa server reads flows and ``content/ivr.yml`` from folders decided before it starts:
a copy of the shipped flows plus the test flows in ``tests/ivr/flows`` (so tests can also edit
a flow to check hot reload), and a copy of ``ivr.yml`` open around the clock with a short
utterance cap. Without VOSK_MODEL_PATH the phone uses ``ScriptedRecognizerForTests``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

SCRIPTED_ASR = "tests.ivr.scripted_asr:ScriptedRecognizerForTests"
TEST_FLOWS = Path(__file__).resolve().parent / "flows"
MAX_UTTERANCE_S = 4


def ivr_environment(data_dir: Path, project_root: Path, environ: dict) -> dict:
    flows = data_dir / "ivr_flows"
    flows.mkdir(parents=True, exist_ok=True)
    for source in list((project_root / "ivr_flows").glob("*.yml")) + list(TEST_FLOWS.glob("*.yml")):
        shutil.copyfile(source, flows / source.name)
    config = yaml.safe_load((project_root / "content" / "ivr.yml").read_text(encoding="utf-8"))
    config["business_hours"].update(open="00:00", close="24:00", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                    closed_dates=[])
    config["limits"]["max_utterance_seconds"] = MAX_UTTERANCE_S
    config.setdefault("hold", {})["audio"] = str(project_root / "content" / "media" / "hold_tone.wav")  # the copy moved
    (data_dir / "ivr.yml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {"KEFU_IVR_FLOWS_DIR": str(flows), "KEFU_IVR_CONFIG": str(data_dir / "ivr.yml"),
           # Every test's and bench's stream comes from 127.0.0.1, most of them unvouched, dozens a minute, some
           # at once: no budget of unvouched starts or calls per address (tests/ivr/test_unvouched_starts_per_address.py
           # and test_unvouched_calls_per_address.py test them).
           "KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS_PER_MINUTE": "0", "KEFU_PHONE_UNVOUCHED_CALLS_PER_ADDRESS": "0"}
    if not environ.get("VOSK_MODEL_PATH"):
        env["KEFU_IVR_ASR_ENGINE"] = SCRIPTED_ASR
    return env
