"""The `kefu` voice subcommands, run through argparse as the CLI will run them."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import socket
from pathlib import Path

import pytest

from voice import commands
from voice.pcm import read_wav, rms_dbfs
from voice_helpers import fake_model, model_zip


def run(settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kefu")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.settings = settings
    return args.handler(args)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/vosk-model-small-cn-0.22.zip"


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("kefu: error: ")
    return lines[0]


def test_register_wires_every_handler():
    parser = argparse.ArgumentParser(prog="kefu")
    commands.register(parser.add_subparsers(dest="command", required=True))
    expected = {
        ("model", "download"): commands.model_download,
        ("model", "check"): commands.model_check,
        ("transcribe", "a.wav"): commands.transcribe,
        ("say", "你好", "-o", "x.wav"): commands.say,
    }
    for argv, handler in expected.items():
        assert parser.parse_args(list(argv)).handler is handler
    with pytest.raises(SystemExit):
        parser.parse_args(["say", "你好", "-o", "x.wav", "--rate", "44100"])


def test_model_download_without_network_is_one_line_and_exit_1(settings, capsys):
    code = run(settings, "model", "download", "--url", closed_port_url())
    captured = capsys.readouterr()
    assert code == 1
    line = one_error_line(captured.err)
    assert "cannot reach" in line and "set VOSK_MODEL_PATH" in line
    assert "Traceback" not in captured.err


def test_model_download_prints_the_path_to_use(settings, served, tmp_path: Path, capsys):
    root, base = served
    archive = model_zip()
    (root / "vosk-model-test-0.1.zip").write_bytes(archive)
    dest = tmp_path / "models"
    argv = ("model", "download", "--dest", str(dest), "--url", f"{base}/vosk-model-test-0.1.zip",
            "--sha256", hashlib.sha256(archive).hexdigest())

    assert run(settings, *argv) == 0
    expected = dest.resolve() / "vosk-model-test-0.1"
    assert capsys.readouterr().out.strip() == f"model ready; set VOSK_MODEL_PATH={expected}"

    (root / "vosk-model-test-0.1.zip").unlink()  # a second run must not need the network
    assert run(settings, *argv) == 0
    assert "already present" in capsys.readouterr().out


def test_model_check_reports_missing_configuration_and_files(settings, tmp_path: Path, capsys):
    assert run(settings, "model", "check") == 1
    assert "VOSK_MODEL_PATH is not set" in one_error_line(capsys.readouterr().err)

    incomplete = fake_model(tmp_path / "model", skip=("am/final.mdl",))
    configured = dataclasses.replace(settings, vosk_model_path=incomplete)
    assert run(configured, "model", "check") == 1
    assert str(incomplete / "am" / "final.mdl") in one_error_line(capsys.readouterr().err)


def test_transcribe_without_model_is_one_clear_line(settings, first_clip: Path, capsys):
    assert run(settings, "transcribe", str(first_clip)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "kefu model download" in line


def test_say_writes_a_wav_at_the_requested_rate(settings, tmp_path: Path, capsys):
    out = tmp_path / "hello.wav"
    assert run(settings, "say", "您好，这里是客服中心。", "-o", str(out), "--rate", "16000") == 0
    wav = read_wav(out)
    assert wav.sample_rate == 16000 and wav.duration > 0.5 and rms_dbfs(wav.samples) > -40
    assert capsys.readouterr().out.strip().startswith(f"wrote {out}")


def test_say_into_a_folder_written_with_a_slash_is_refused_not_a_file_named_like_it(settings, tmp_path: Path,
                                                                                      capsys):
    """`kefu say TEXT -o clips/` wrote a file named `clips`, where the operator meant a folder."""
    folder = tmp_path / "clips"
    assert run(settings, "say", "您好", "-o", f"{folder}/") == 1
    assert "a file name" in one_error_line(capsys.readouterr().err)
    assert not folder.exists()


def test_voicemail_on_a_channel_kefu_does_not_have_is_a_usage_error(settings, tmp_path: Path, capsys):
    """`--channel wechta` was stored as the message's channel, and its self-help reply queued on a channel no
    worker sends on."""
    message = tmp_path / "m.wav"
    message.write_bytes(b"")
    with pytest.raises(SystemExit) as usage:
        run(settings, "voicemail", str(message), "--from", "13800000001", "--channel", "wechta")
    assert usage.value.code == 2 and "invalid choice: 'wechta'" in capsys.readouterr().err


def test_model_check_validates_any_folder_given_as_argument(vosk_model_dir: Path, settings,
                                                           tmp_path: Path, capsys):
    assert run(settings, "model", "check", str(vosk_model_dir)) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"model OK: {vosk_model_dir}") and "runtime grammars supported" in out
    broken = fake_model(tmp_path / "broken")
    assert run(settings, "model", "check", str(broken)) == 1
    assert f"model at {broken.resolve()} is corrupt" in one_error_line(capsys.readouterr().err)


def test_transcribe_prints_the_sentence_kefu_said(vosk_model_dir: Path, settings, tmp_path: Path, capsys):
    """Kefu's TTS says a known sentence; `kefu transcribe` must print that sentence back."""
    configured = dataclasses.replace(settings, vosk_model_path=vosk_model_dir)
    clip = tmp_path / "said.wav"
    assert run(configured, "say", "我想查话费", "-o", str(clip), "--rate", "8000") == 0
    capsys.readouterr()
    assert run(configured, "transcribe", str(clip)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "text: 我想查话费"
    assert lines[1].startswith("confidence: ") and float(lines[1].split()[1]) > 0.5
