"""Vosk model folder validation and the verified model download, against a loopback server."""
from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from voice.errors import ModelMissingError, VoiceError
from voice.model_download import download_model
from voice.vosk_engine import VoskEngine, load_model, validate_model_dir
from voice_helpers import MODEL_FILES, build_zip, fake_model, model_zip


def assert_actionable(error: ModelMissingError, names: str) -> None:
    message = str(error)
    assert names in message
    assert "\n" not in message
    assert "kefu model download" in message and "VOSK_MODEL_PATH" in message


# --- validation -----------------------------------------------------------------------------

def test_empty_folder_names_the_acoustic_model(tmp_path: Path):
    with pytest.raises(ModelMissingError) as error:
        validate_model_dir(tmp_path)
    assert_actionable(error.value, str(tmp_path / "am" / "final.mdl"))


@pytest.mark.parametrize("missing", ["am/final.mdl", "conf/model.conf", "graph/Gr.fst",
                                     "graph/disambig_tid.int", "ivector/final.dubm", "ivector/splice.conf"])
def test_folder_missing_one_file_names_that_file(tmp_path: Path, missing: str):
    fake_model(tmp_path, skip=(missing,))
    with pytest.raises(ModelMissingError) as error:
        validate_model_dir(tmp_path)
    assert_actionable(error.value, str(tmp_path / missing))


def test_ivectors_are_optional_as_in_vosk(tmp_path: Path):
    """vosk-api src/model.cc loads i-vectors only when ivector/final.ie exists."""
    fake_model(tmp_path, skip=tuple(f for f in MODEL_FILES if f.startswith("ivector/")))
    assert validate_model_dir(tmp_path) == tmp_path.resolve()


def test_fbank_features_replace_mfcc(tmp_path: Path):
    fake_model(tmp_path, skip=("conf/mfcc.conf",))
    with pytest.raises(ModelMissingError) as error:
        validate_model_dir(tmp_path)
    assert_actionable(error.value, f"{tmp_path / 'conf' / 'mfcc.conf'} (or {tmp_path / 'conf' / 'fbank.conf'})")
    (tmp_path / "conf" / "fbank.conf").write_text("--num-mel-bins=80\n")
    assert validate_model_dir(tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize("present,missing", [
    ("rescore/G.carpa", "rescore/G.fst"),
    ("rnnlm/final.raw", "rnnlm/feat_embedding.final.mat"),
])
def test_optional_rescoring_must_be_complete_when_present(tmp_path: Path, present: str, missing: str):
    fake_model(tmp_path)
    (tmp_path / present).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / present).write_text("switched on")
    with pytest.raises(ModelMissingError) as error:
        validate_model_dir(tmp_path)
    assert_actionable(error.value, str(tmp_path / missing))


def test_the_shared_test_model_is_valid_and_loads(vosk_model_dir: Path):
    assert not (vosk_model_dir / "ivector").exists()  # the layout the old check refused
    assert validate_model_dir(vosk_model_dir) == vosk_model_dir
    assert load_model(vosk_model_dir) is load_model(vosk_model_dir)  # once per process


def test_static_graph_replaces_the_lookahead_graph(tmp_path: Path):
    fake_model(tmp_path, skip=("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int"))
    with pytest.raises(ModelMissingError) as error:
        validate_model_dir(tmp_path)
    assert_actionable(error.value, "HCLG.fst")
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "HCLG.fst").write_text("graph")
    assert validate_model_dir(tmp_path) == tmp_path.resolve()


def test_no_model_configured_and_missing_folder(tmp_path: Path):
    with pytest.raises(ModelMissingError) as unset:
        VoskEngine(None)
    assert_actionable(unset.value, "VOSK_MODEL_PATH is not set")
    with pytest.raises(ModelMissingError) as absent:
        validate_model_dir(tmp_path / "nowhere")
    assert_actionable(absent.value, str(tmp_path / "nowhere"))


def test_complete_but_corrupt_model_is_reported_as_corrupt(tmp_path: Path):
    fake_model(tmp_path)
    with pytest.raises(ModelMissingError) as error:
        load_model(tmp_path)
    assert_actionable(error.value, f"model at {tmp_path.resolve()} is corrupt")


# --- download -------------------------------------------------------------------------------

def test_download_verifies_and_unpacks(served, tmp_path: Path):
    root, base = served
    archive = model_zip()
    (root / "vosk-model-test-0.1.zip").write_bytes(archive)
    dest = tmp_path / "models"

    model_dir = download_model(dest, url=f"{base}/vosk-model-test-0.1.zip",
                               sha256=hashlib.sha256(archive).hexdigest())

    assert model_dir == dest.resolve() / "vosk-model-test-0.1"
    assert (model_dir / "am" / "final.mdl").read_text() == "content of am/final.mdl"
    assert validate_model_dir(model_dir) == model_dir
    assert sorted(p.name for p in dest.iterdir()) == ["vosk-model-test-0.1"]  # no leftovers


def test_download_with_wrong_checksum_installs_nothing(served, tmp_path: Path):
    root, base = served
    (root / "model.zip").write_bytes(model_zip())
    dest = tmp_path / "models"

    with pytest.raises(VoiceError) as error:
        download_model(dest, url=f"{base}/model.zip", sha256="0" * 64)

    assert "checksum mismatch" in str(error.value) and "\n" not in str(error.value)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("evil_name", ["../escaped.txt", "model/../../escaped.txt", "/abs/escaped.txt"])
def test_download_refuses_path_traversal(served, tmp_path: Path, evil_name: str):
    root, base = served
    archive = build_zip({"model/am/final.mdl": "ok", evil_name: "gotcha"})
    (root / "evil.zip").write_bytes(archive)
    dest = tmp_path / "a" / "models"

    with pytest.raises(VoiceError) as error:
        download_model(dest, url=f"{base}/evil.zip", sha256=hashlib.sha256(archive).hexdigest())

    assert "unsafe archive entry" in str(error.value)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert list(dest.iterdir()) == []


def test_download_from_unreachable_host_is_one_clear_line(tmp_path: Path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/vosk-model-small-cn-0.22.zip"

    with pytest.raises(VoiceError) as error:
        download_model(tmp_path, url=url, timeout=5)

    message = str(error.value)
    assert message.startswith(f"cannot reach {url}: ")
    assert message.endswith("download it on a machine with internet and set VOSK_MODEL_PATH")
    assert "\n" not in message


def test_download_of_missing_file_reports_http_status(served, tmp_path: Path):
    _, base = served
    with pytest.raises(VoiceError, match="cannot reach .*404"):
        download_model(tmp_path, url=f"{base}/absent.zip")
