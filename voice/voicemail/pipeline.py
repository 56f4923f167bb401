"""The voice-message pipeline: decode, store, recognise, classify, route, record.

Contract: once the audio has decoded, the message is never dropped. It is stored (a
``voice_messages`` row and its 16 kHz mono WAV as a ``recordings`` row, one transaction in the
shared database, so the desk of every instance plays it) *before* recognition, and every later
failure (no Vosk model, Rasa down, outbox unavailable) routes it to a person instead of raising.
Audio that cannot be decoded raises :class:`AudioError` before anything is written. If the process
dies mid-way, the row stays in outcome ``received`` (``Repository.voice_messages(outcome="received")``
lists them for a retry). If the database does not take it (writes are retried for 8 s; a
caller lookup it fails before that counts the same), the WAV and
who left it are kept under ``<data_dir>/voicemail/unsaved/`` (:func:`keep_unsaved`) and the error
raised: an earlier version deleted the file then, and the message was lost. ``kefu run`` files them
again under the same id (:meth:`VoicemailPipeline.refile`, :mod:`voice.voicemail.unsaved`).

Blocking work (decoding, SQL, file writes, recognition) runs in worker threads.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.db.repository import DatabaseError, Repository
from bot.labels import ticket_summary
from bot.notify import Notifier, NotifyError, OutboxNotifier, Withheld
from bot.outcomes import record
from bot.observability.metrics import observe_real_time_factor
from bot.security.private_files import private_dir, write_private_file
from bot.selfhelp import Catalogue, CatalogueError, load_catalogue
from bot.snapshot import editor_file
from voice.asr import ASR_RATE, AsrEngine, Result, decode_executor
from voice.audio import DEFAULT_LIMITS, AudioLimits, Pcm, decode_bytes, decode_file, format_from_name
from voice.errors import ModelMissingError, NluError, VoiceError, VoicemailConfigError
from voice.voicemail.nlu import NluParser
from voice.voicemail.policy import (
    ASR_FAILED,
    ASR_UNAVAILABLE,
    NLU_UNAVAILABLE,
    NOTIFY_FAILED,
    NOTIFY_WITHHELD,
    SELFHELP_SENT,
    Decision,
    Recognition,
    VoicemailPolicy,
    decide,
    load_policy,
    unclear_decision,
)

logger = logging.getLogger(__name__)

VOICEMAIL_DIR = "voicemail"
UNSAVED_DIR = "unsaved"  # under VOICEMAIL_DIR: messages the database did not take


class AlreadyFiled(Exception):
    """A kept message's id is in the database already: an earlier pass (or another instance) filed it."""


class KeptUnsaved(DatabaseError):
    """The database did not take a new message; its WAV waits at ``path`` for ``kefu run``'s pass, which
    files it under ``message_id`` (so it must not be left again). ``__cause__``: the database's error."""

    def __init__(self, message_id: str, path: Path, reason: DatabaseError) -> None:
        super().__init__(str(reason))
        self.message_id = message_id
        self.path = path


@dataclass(frozen=True)
class VoicemailOutcome:
    """What happened to one voice message (also stored in ``voice_messages``)."""

    message_id: str  # also its recording's id (bot/db/recordings.py)
    duration_s: float
    outcome: str
    reason: str
    ticket_id: str | None
    needs_human: bool
    customer_id: int | None
    transcript: str | None = None
    asr_confidence: float | None = None
    intent: str | None = None
    intent_confidence: float | None = None
    entities: tuple[dict, ...] = field(default_factory=tuple)
    selfhelp_entry_id: str | None = None

    @property
    def conversation_id(self) -> str:
        return conversation_id(self.message_id)


def conversation_id(message_id: str) -> str:
    return f"voicemail-{message_id}"


async def hand_to_person(repository: Repository, settings, outcome: VoicemailOutcome, decision: Decision,
                         channel: str, caller_phone: str, customer, write=None) -> str:
    """A message a person must handle: a work item carrying the same handoff packet as a live one; its ticket id.
    Also for a message whose self-help reply was held back when sent (voice/voicemail/withheld_reply.py), whose
    ``write`` makes its self-help ticket the work item (``WorkItem.write``)."""
    import dataclasses

    from bot.handoff.rules import load_rules
    from bot.handoff.service import WorkItem, request_handoff

    rules = load_rules(settings.content_dir / "handoff.yml") if settings else load_rules()
    heard = [{"event": "user", "text": outcome.transcript or "", "metadata": {"voice": True},
              "parse_data": {"intent": {"name": outcome.intent, "confidence": outcome.intent_confidence or 0}}}]
    tickets = await asyncio.to_thread(repository.tickets_for, customer.id, open_only=True) if customer else []
    # Not the message's own (its self-help ticket, becoming the work item): the agent would read it as another.
    tickets = [t for t in tickets if t["conversation_id"] != outcome.conversation_id]
    result = await request_handoff(
        conversation_id=outcome.conversation_id, channel=channel, skill=rules.skill_for(outcome.intent, None),
        priority=decision.priority, reason=f"voicemail_{outcome.reason}",
        customer=dataclasses.asdict(customer) if customer else None, phone=caller_phone or None,
        events=heard if outcome.transcript else [], open_tickets=tickets,
        work_item=WorkItem(kind=decision.kind, summary=VoicemailPipeline._summary(outcome),
                           details=VoicemailPipeline._details(outcome), repository=repository, write=write))
    return result.ticket_id


class VoicemailPipeline:
    """Handles voice messages end to end; one instance per process, shared by the channels.

    ``asr=None`` means the Vosk model from settings, looked up per message so that a model
    installed later is used without a restart (the loaded model itself is cached per process).
    """

    def __init__(self, *, repository: Repository, nlu: NluParser, notifier: Notifier,
                 policy: VoicemailPolicy, catalogue_path: Path, storage_dir: Path,
                 asr: AsrEngine | None = None, settings=None,
                 limits: AudioLimits = DEFAULT_LIMITS) -> None:
        self.repository = repository
        self.nlu = nlu
        self.notifier = notifier
        self.policy = policy
        self.catalogue_path = catalogue_path
        self.storage_dir = Path(storage_dir)
        self.asr = asr
        self.settings = settings
        self.limits = limits
        self._schema_ready = False

    @classmethod
    def from_settings(cls, settings=None, *, nlu: NluParser, asr: AsrEngine | None = None,
                      notifier: Notifier | None = None, limits: AudioLimits = DEFAULT_LIMITS) -> "VoicemailPipeline":
        if settings is None:
            from bot.settings import get_settings

            settings = get_settings()
        repository = Repository(settings.database_url)
        return cls(
            repository=repository,
            nlu=nlu,
            notifier=notifier or OutboxNotifier.from_settings(settings, repository),
            policy=editor_file(settings.content_dir / "voicemail.yml", load_policy, (VoicemailConfigError,)).get(),
            catalogue_path=settings.selfhelp_catalogue,
            storage_dir=settings.data_dir / VOICEMAIL_DIR,
            asr=asr,
            settings=settings,
            limits=limits,
        )

    # -- entry points ----------------------------------------------------
    async def handle_file(self, path: str | Path, *, caller_phone: str, channel: str = "ivr",
                          fmt: str | None = None) -> VoicemailOutcome:
        """A message in an audio file (format from ``fmt`` or the file's extension)."""
        fmt = fmt or format_from_name(path)
        pcm = await asyncio.to_thread(decode_file, path, fmt, target_rate=ASR_RATE, limits=self.limits)
        return await self._handle(pcm, fmt, caller_phone, channel)

    async def handle_bytes(self, data: bytes, fmt: str, *, caller_phone: str, channel: str = "ivr",
                           source_rate: int | None = None) -> VoicemailOutcome:
        """A message received as bytes in format ``fmt`` (one of :data:`voice.audio.FORMATS`)."""
        pcm = await asyncio.to_thread(decode_bytes, data, fmt, target_rate=ASR_RATE,
                                      source_rate=source_rate, limits=self.limits)
        return await self._handle(pcm, fmt, caller_phone, channel)

    async def refile(self, wav_path: Path, *, message_id: str, caller_phone: str, channel: str) -> VoicemailOutcome:
        """A message kept in ``unsaved/`` (:func:`keep_unsaved`), handled now under the id it was given then.

        The ``voice_messages`` row's primary key is that id, so only one attempt stores and routes it:
        one that finds the row there already (another instance's pass won, or a pass crashed after
        storing it and before deleting the file) raises :class:`AlreadyFiled` and routes nothing.
        The file is not kept again if the database refuses once more (it is still where it was)."""
        pcm = await asyncio.to_thread(decode_file, wav_path, "wav", target_rate=ASR_RATE, limits=self.limits)
        return await self._handle(pcm, "wav", caller_phone, channel, message_id=message_id, kept_already=True)

    # -- steps -------------------------------------------------------------
    async def _handle(self, pcm: Pcm, fmt: str, caller_phone: str, channel: str, *,
                      message_id: str | None = None, kept_already: bool = False) -> VoicemailOutcome:
        caller_phone = caller_phone.strip()
        message_id = message_id or uuid.uuid4().hex
        try:
            customer = await asyncio.to_thread(self._find_customer, caller_phone)
        except DatabaseError as exc:  # the database is down already: the message waits on disk, not lost
            if not kept_already:
                kept = await asyncio.to_thread(self._keep, message_id, pcm.to_wav(), caller_phone, channel)
                if kept is not None:
                    raise KeptUnsaved(message_id, kept, exc) from exc
            raise
        await asyncio.to_thread(self._store, message_id, pcm, caller_phone, customer.id if customer else None,
                                channel, kept_already)
        await self._event(message_id, "voicemail_received", channel,
                          {"duration_s": round(pcm.duration, 2), "format": fmt, "known_customer": bool(customer)})
        logger.info("voice.voicemail.stored id=%s channel=%s duration=%.1f", message_id, channel, pcm.duration)

        recognition = await self._recognise(pcm)
        decision = await self._route(message_id, recognition, caller_phone, channel,
                                     customer.vip_tier if customer else 0)

        outcome = _outcome(message_id, pcm, customer.id if customer else None, recognition, decision)
        if decision.needs_human:
            ticket_id = await hand_to_person(self.repository, self.settings, outcome, decision, channel,
                                             caller_phone, customer)
        else:
            ticket_id = await asyncio.to_thread(self._open_ticket, outcome, decision, channel)
        outcome = replace(outcome, ticket_id=ticket_id)
        await asyncio.to_thread(self._save_outcome, outcome)
        await self._event(message_id, "voicemail_routed", channel, {
            "outcome": outcome.outcome, "reason": outcome.reason, "intent": outcome.intent,
            "ticket_id": ticket_id, "needs_human": outcome.needs_human,
            "selfhelp_entry": outcome.selfhelp_entry_id,
        })
        logger.info("voice.voicemail.routed id=%s outcome=%s reason=%s ticket=%s",
                    message_id, outcome.outcome, outcome.reason, ticket_id)
        return outcome

    async def _route(self, message_id: str, recognition: Recognition, caller_phone: str, channel: str,
                     vip_tier: int) -> Decision:
        """Decide, and send the self-help reply when that is the decision."""
        try:
            catalogue = await asyncio.to_thread(load_catalogue, self.catalogue_path)
        except (OSError, CatalogueError) as exc:  # a broken catalogue means a ticket, not a lost message
            logger.warning("voice.voicemail.catalogue_unavailable error=%s", exc)
            catalogue = Catalogue()
        decision = decide(self.policy, catalogue, recognition, vip_tier)
        if decision.outcome != SELFHELP_SENT:
            return decision
        try:
            await self.notifier.send_selfhelp(caller_phone, self.policy.reply_channel(channel),
                                              decision.selfhelp_entry, voice_message_id=message_id)
        except Withheld as exc:  # the caller opted out: a person handles it, knowing not to text them
            logger.info("voice.voicemail.notify_withheld id=%s reason=%s", message_id, exc.reason)
            return unclear_decision(self.policy, NOTIFY_WITHHELD.get(exc.reason, NOTIFY_FAILED), vip_tier)
        except NotifyError as exc:
            logger.warning("voice.voicemail.notify_failed id=%s error=%s", message_id, exc)
            return unclear_decision(self.policy, NOTIFY_FAILED, vip_tier)
        return decision

    def _find_customer(self, caller_phone: str):
        self._ensure_schema()
        return self.repository.find_customer(phone=caller_phone) if caller_phone else None

    def _ensure_schema(self) -> None:
        if not self._schema_ready:
            private_dir(self.storage_dir.parent)  # the data folder: the default SQLite file's folder
            self.repository.create_schema()  # idempotent: adds tables an older database lacks
            self._schema_ready = True

    def _store(self, message_id: str, pcm: Pcm, caller_phone: str, customer_id: int | None,
               channel: str, kept_already: bool = False) -> None:
        """The row and its recording, together; if the database does not take them, the WAV is kept
        on this machine (:func:`keep_unsaved`) before the error goes on. A message kept already is not
        kept twice; refused because its id is stored already, it raises :class:`AlreadyFiled`."""
        wav = pcm.to_wav()
        try:
            self.repository.add_voice_message(
                message_id=message_id, audio=wav, conversation_id=conversation_id(message_id),
                duration_s=pcm.duration, caller_phone=caller_phone, customer_id=customer_id, channel=channel,
            )
        except DatabaseError as exc:
            if kept_already:
                if self.repository.get_voice_message(message_id) is not None:
                    raise AlreadyFiled(message_id) from None
                raise
            kept = self._keep(message_id, wav, caller_phone, channel)
            if kept is not None:
                raise KeptUnsaved(message_id, kept, exc) from exc
            raise

    def _keep(self, message_id: str, wav: bytes, caller_phone: str, channel: str) -> Path | None:
        """Where the message's WAV is kept; None when it could not be (logged as lost)."""
        try:
            kept = keep_unsaved(self.storage_dir, message_id, wav, caller_phone, channel)
            logger.error("voice.voicemail.unsaved id=%s kept=%s", message_id, kept)
            return kept
        except OSError:
            logger.exception("voice.voicemail.lost id=%s", message_id)
            return None

    async def _recognise(self, pcm: Pcm) -> Recognition:
        try:
            result: Result = await asyncio.get_running_loop().run_in_executor(
                decode_executor(), self._transcribe, pcm)
        except ModelMissingError as exc:
            logger.warning("voice.voicemail.asr_unavailable error=%s", exc)
            return Recognition(failure=ASR_UNAVAILABLE)
        except VoiceError as exc:
            logger.warning("voice.voicemail.asr_failed error=%s", exc)
            return Recognition(failure=ASR_FAILED)
        transcript = result.text.strip()
        if not transcript:
            return Recognition(transcript="", asr_confidence=result.confidence)
        try:
            nlu = await self.nlu.parse(transcript)
        except NluError as exc:
            logger.warning("voice.voicemail.nlu_unavailable error=%s", exc)
            return Recognition(transcript, result.confidence, failure=NLU_UNAVAILABLE)
        return Recognition(transcript, result.confidence, nlu)

    def _transcribe(self, pcm: Pcm) -> Result:
        engine = self.asr
        if engine is None:
            from voice.vosk_engine import VoskEngine

            engine = VoskEngine.from_settings(self.settings)
        started = time.monotonic()
        result = engine.transcribe_pcm(pcm.samples, pcm.sample_rate)
        observe_real_time_factor("voicemail", time.monotonic() - started, pcm.duration)
        return result

    @staticmethod
    def _summary(outcome: VoicemailOutcome) -> str:
        return ticket_summary("voice_message", said=(outcome.transcript or "")[:200])  # the reason is in details

    @staticmethod
    def _details(outcome: VoicemailOutcome) -> dict:
        details = {
            "voice_message_id": outcome.message_id,  # its recording's id too
            "duration_s": round(outcome.duration_s, 2),
            "transcript": outcome.transcript,
            "asr_confidence": outcome.asr_confidence,
            "intent": outcome.intent,
            "intent_confidence": outcome.intent_confidence,
            "entities": list(outcome.entities),
            "reason": outcome.reason,
        }
        if outcome.selfhelp_entry_id:
            details["selfhelp_entry"] = outcome.selfhelp_entry_id
        return details

    def _open_ticket(self, outcome: VoicemailOutcome, decision: Decision, channel: str) -> str:
        return self.repository.create_ticket(
            kind=decision.kind, customer_id=outcome.customer_id, summary=self._summary(outcome),
            details=self._details(outcome),
            priority=decision.priority, needs_human=decision.needs_human, channel=channel,
            conversation_id=outcome.conversation_id,
        )

    def _save_outcome(self, outcome: VoicemailOutcome) -> None:
        self.repository.update_voice_message(
            outcome.message_id, transcript=outcome.transcript, asr_confidence=outcome.asr_confidence,
            intent=outcome.intent, intent_confidence=outcome.intent_confidence,
            entities=list(outcome.entities), ticket_id=outcome.ticket_id, outcome=outcome.outcome,
            needs_human=outcome.needs_human,
        )
        if not outcome.needs_human:
            # No work item: no agent finishes it (which starts a recording's expiry, bot.handoff.desk) and
            # none plays it, so its clock starts now; it was kept for ever.
            from bot.db.recordings import VOICE_MESSAGE, RecordingStore

            RecordingStore(self.repository.url).expire(outcome.message_id, VOICE_MESSAGE,
                                                       self._settings().voice_message_expiry_s)

    def _settings(self):
        if self.settings is not None:
            return self.settings
        from bot.settings import get_settings

        return get_settings()

    async def _event(self, message_id: str, kind: str, channel: str, data: dict) -> None:
        await record(conversation_id(message_id), kind, channel=channel, database_url=self.repository.url, **data)


def _outcome(message_id: str, pcm: Pcm, customer_id: int | None,
             recognition: Recognition, decision: Decision) -> VoicemailOutcome:
    nlu = recognition.nlu
    heard = recognition.failure not in (ASR_UNAVAILABLE, ASR_FAILED)
    return VoicemailOutcome(
        message_id=message_id, duration_s=pcm.duration,
        outcome=decision.outcome, reason=decision.reason, ticket_id=None,
        needs_human=decision.needs_human, customer_id=customer_id,
        transcript=recognition.transcript if heard else None,
        asr_confidence=recognition.asr_confidence if heard else None,
        intent=nlu.intent if nlu else None,
        intent_confidence=nlu.confidence if nlu else None,
        entities=nlu.entities if nlu else (),
        selfhelp_entry_id=decision.selfhelp_entry.id if decision.selfhelp_entry else None,
    )


def keep_unsaved(storage_dir: Path, message_id: str, wav: bytes, caller_phone: str, channel: str) -> Path:
    """A message the database did not take, kept where an operator finds it: ``<id>.wav`` and
    ``<id>.json`` (who left it, on which channel) under ``<storage_dir>/unsaved/``, owner-only. ``kefu run``
    files it again once the database is back (:mod:`voice.voicemail.unsaved`)."""
    import json

    folder = private_dir(private_dir(Path(storage_dir)) / UNSAVED_DIR)  # both levels owner-only
    wav_path = write_private_file(folder / f"{message_id}.wav", wav)
    write_private_file(folder / f"{message_id}.json", json.dumps(
        {"caller": caller_phone, "channel": channel, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        ensure_ascii=False).encode("utf-8"))
    return wav_path
