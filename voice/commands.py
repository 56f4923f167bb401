"""``kefu`` subcommands for the voice layer: model download/check, transcribe, say, voicemail.

``register(subparsers)`` adds them to the CLI's argparse tree; each parser sets
``handler=<function(namespace) -> exit code>``. Failures the user can fix are printed as one
line on stderr with exit code 1, never as a traceback. A ``settings`` attribute on the
namespace, when present, replaces :func:`bot.settings.get_settings` (tests use it).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from bot.channels.names import VOICEMAIL_CHANNELS  # where a voice message can come from
from voice.asr import ASR_RATE
from voice.audio import FORMATS, decode_file
from voice.errors import VoiceError
from voice.grammar import model_vocabulary
from voice.model_download import OFFICIAL_SHA256, OFFICIAL_URL, download_model, model_name
from voice.pcm import wav_duration
from voice.tts import Pyttsx3Engine
from voice.vosk_engine import VoskEngine, load_model, validate_model_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser("model", help="manage the offline Vosk speech model")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    download = model_commands.add_parser("download", help="download and verify the Chinese model")
    download.add_argument("--dest", type=Path, help="folder to unpack into (default: <data_dir>/vosk)")
    download.add_argument("--url", default=OFFICIAL_URL, help="model zip URL (e.g. an internal mirror)")
    download.add_argument("--sha256", default=OFFICIAL_SHA256, help="expected SHA-256 of the zip")
    download.set_defaults(handler=model_download)
    check = model_commands.add_parser("check", help="validate and load a Vosk model folder")
    check.add_argument("path", nargs="?", type=Path, help="model folder (default: VOSK_MODEL_PATH)")
    check.add_argument("--path", dest="path_option", type=Path, help=argparse.SUPPRESS)
    check.set_defaults(handler=model_check)

    transcribe_parser = subparsers.add_parser("transcribe", help="recognise speech in an audio file")
    transcribe_parser.add_argument("file", type=Path)
    transcribe_parser.set_defaults(handler=transcribe)

    say_parser = subparsers.add_parser("say", help="synthesise text to a WAV file")
    say_parser.add_argument("text")
    say_parser.add_argument("-o", "--output", required=True, help="the WAV file to write")  # str: Path drops a "/"
    say_parser.add_argument("--rate", type=int, choices=(8000, 16000), default=8000)
    say_parser.set_defaults(handler=say)

    voicemail_parser = subparsers.add_parser(
        "voicemail", help="store, recognise and route a voice message as if a channel received it")
    voicemail_parser.add_argument("file", type=Path)
    voicemail_parser.add_argument("--from", dest="caller", required=True, metavar="PHONE",
                                  help="the caller's phone number (or sender id on the channel)")
    voicemail_parser.add_argument("--channel", default="ivr", choices=VOICEMAIL_CHANNELS,
                                  help="channel it arrived on (default: ivr)")
    voicemail_parser.add_argument("--format", dest="fmt", choices=FORMATS,
                                  help="audio format (default: from the file extension)")
    voicemail_parser.add_argument("--rasa-url", help="classify with this running Rasa server (default: this "
                                  "installation's server when it runs, else the newest trained model "
                                  "in-process; never trains)")
    voicemail_parser.set_defaults(handler=voicemail)


def model_download(args: argparse.Namespace) -> int:
    settings = _settings(args)
    dest = args.dest or settings.data_dir / "vosk"
    existing = dest / model_name(args.url)
    try:
        validate_model_dir(existing)
        print(f"model already present; set VOSK_MODEL_PATH={existing}")
        return 0
    except VoiceError:
        pass
    try:
        model_dir = download_model(dest, url=args.url, sha256=args.sha256)
        validate_model_dir(model_dir)
    except VoiceError as exc:
        return _fail(exc)
    print(f"model ready; set VOSK_MODEL_PATH={model_dir}")
    return 0


def model_check(args: argparse.Namespace) -> int:
    """Validate the layout by Vosk's rules, then really load it (a corrupt file fails here)."""
    path = args.path or getattr(args, "path_option", None) or _settings(args).vosk_model_path
    try:
        load_model(path)
    except VoiceError as exc:
        return _fail(exc)
    model_dir = validate_model_dir(path)
    vocabulary = model_vocabulary(model_dir)
    words = f"{len(vocabulary.words)} words" if vocabulary else "no graph/words.txt"
    grammars = "runtime grammars supported" if (model_dir / "graph" / "Gr.fst").is_file() else \
        "static graph: runtime grammars are ignored"
    print(f"model OK: {model_dir} ({words}; {grammars})")
    return 0


def transcribe(args: argparse.Namespace) -> int:
    try:
        engine = VoskEngine.from_settings(_settings(args))
        started = time.perf_counter()
        pcm = decode_file(args.file, target_rate=ASR_RATE)
        result = engine.transcribe_pcm(pcm.samples, pcm.sample_rate)
        elapsed = time.perf_counter() - started
    except VoiceError as exc:
        return _fail(exc)
    print(f"text: {result.text}")
    print(f"confidence: {result.confidence:.2f}")
    rtf = elapsed / pcm.duration
    print(f"real-time factor: {rtf:.2f} ({elapsed:.2f} s for {pcm.duration:.2f} s of audio)")
    return 0


def say(args: argparse.Namespace) -> int:
    if args.output.endswith(("/", "\\")):
        return _fail(f"-o {args.output} names a folder: give a file name, such as {args.output}say.wav")
    output = Path(args.output)
    engine = Pyttsx3Engine.from_settings(_settings(args))
    try:
        wav = asyncio.run(engine.synthesize(args.text, args.rate))
        output.write_bytes(wav)
    except VoiceError as exc:
        return _fail(exc)
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror}")
    print(f"wrote {output} ({wav_duration(wav):.2f} s at {args.rate} Hz)")
    return 0


def voicemail(args: argparse.Namespace) -> int:
    """Exit 0 whenever the message was stored, even if it could not be recognised: nothing was
    lost and a person will handle it; a warning line on stderr says so. Exit 1 when the audio
    is unusable or the database/configuration fails (nothing stored; a database that fails on the
    message itself: the line says where it is kept for `kefu run` to file)."""
    from bot.db.errors import unusable_database
    from bot.db.repository import DatabaseError
    from voice.voicemail import LocalRasaNlu, RasaHttpNlu, VoicemailPipeline
    from voice.voicemail.pipeline import KeptUnsaved

    settings = _settings(args)
    caller = _caller(args)
    if caller is None:
        return _fail(f"--from {args.caller!r} is not a phone number (a mainland mobile, or a landline with its "
                     f"area code), the caller's on channel {args.channel}")
    nlu = None
    try:
        nlu = RasaHttpNlu(args.rasa_url, token=_rasa_token(settings)) if args.rasa_url else default_nlu(settings)
        pipeline = VoicemailPipeline.from_settings(settings, nlu=nlu)
        outcome = asyncio.run(pipeline.handle_file(args.file, caller_phone=caller,
                                                   channel=args.channel, fmt=args.fmt))
    except VoiceError as exc:
        return _fail(exc)
    except KeptUnsaved as exc:  # run again, it would be filed twice
        print(f"{unusable_database(exc)}; the message is kept in {exc.path} and `kefu run` files it once the "
              "database takes it: do not leave it again", file=sys.stderr)
        return 1
    except DatabaseError as exc:  # SQLAlchemy appends a background link on a second line
        return _fail(str(exc).splitlines()[0])
    finally:
        if isinstance(nlu, LocalRasaNlu):
            nlu.close()
    _print_outcome(outcome)
    if outcome.reason in _UNRECOGNISED:
        print(f"kefu: warning: {_UNRECOGNISED[outcome.reason]}; the message was stored as "
              f"{outcome.message_id} and flagged for a human (ticket {outcome.ticket_id})", file=sys.stderr)
    return 0


_UNRECOGNISED = {
    "asr_unavailable": "no usable Vosk model (run `kefu model download` or set VOSK_MODEL_PATH)",
    "asr_failed": "speech recognition failed",
    "nlu_unavailable": "the Rasa NLU could not classify the transcript (is the server running, "
                       "or a model trained with `kefu train`?)",
}


PHONE_CHANNELS = ("ivr", "sms")  # a message left on these comes from a number: the one texted and called back


def _caller(args: argparse.Namespace) -> str | None:
    """``--from`` as Kefu keeps a number on a phone channel (None: it is none), as given on another one."""
    if args.channel not in PHONE_CHANNELS:
        return args.caller
    from bot.handoff.contact_details import phone_number

    return phone_number(args.caller)


def default_nlu(settings):
    """The model customers are served: this installation's running server (``make run``, found as
    `kefu train` finds it: ``bot.serving``) when it answers, else the newest trained model loaded in-process, and only if a transcript needs it.
    Never trains (minutes of CPU, and possibly from unpublished edits): with no model at all the
    message is stored and flagged (nlu_unavailable)."""
    from bot.editor.publish import running_model
    from bot.serving import serving_urls
    from voice.voicemail import LocalRasaNlu, RasaHttpNlu

    token = _rasa_token(settings)
    served = next((url for url in serving_urls(settings) if running_model(url, token)), None)
    return RasaHttpNlu(served, token=token) if served else LocalRasaNlu(_newest_model(settings))


def _newest_model(settings) -> Path:
    """The model for the current training data if it exists, else the newest one trained."""
    from bot.training import model_path

    current = model_path(settings.root, settings.models_dir)
    if current.is_file():
        return current
    trained = sorted(settings.models_dir.glob("kefu-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return trained[-1] if trained else current


def _print_outcome(outcome) -> None:
    confidence = "-" if outcome.intent_confidence is None else f"{outcome.intent_confidence:.2f}"
    asr_confidence = "-" if outcome.asr_confidence is None else f"{outcome.asr_confidence:.2f}"
    print(f"message: {outcome.message_id} ({outcome.duration_s:.2f} s)")
    print(f"transcript: {outcome.transcript or '-'} (asr confidence {asr_confidence})")
    print(f"intent: {outcome.intent or '-'} (confidence {confidence})")
    print(f"outcome: {outcome.outcome} ({outcome.reason})")
    if outcome.selfhelp_entry_id:
        print(f"self-help sent: {outcome.selfhelp_entry_id}")
    print(f"ticket: {outcome.ticket_id}{' (needs a human)' if outcome.needs_human else ''}")


def _settings(args: argparse.Namespace):
    settings = getattr(args, "settings", None)
    if settings is None:
        from bot.settings import get_settings

        settings = get_settings()
    return settings


def _fail(error: Exception | str) -> int:
    print(f"kefu: error: {error}", file=sys.stderr)
    return 1


def _rasa_token(settings) -> str:
    """The Rasa API token of this installation (the server refuses /model/parse without it); "" when the
    database holding it is down and this machine has no copy: the message is then kept on disk for
    `kefu run` to file (a traceback lost it)."""
    import logging

    from bot.security.secrets import SecretsUnavailable, load_secrets

    try:
        return load_secrets(settings).rasa_token
    except SecretsUnavailable as exc:
        logging.getLogger(__name__).warning("voice.voicemail.no_rasa_token reason=%s", exc)
        return ""
