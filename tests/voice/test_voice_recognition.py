"""Recognition of the real clips with Vosk; runs only when VOSK_MODEL_PATH holds a complete model."""
from __future__ import annotations

from pathlib import Path

import pytest

from voice.asr import Partial, Result, Word, join_words
from voice.audio import decode_file
from voice.metrics import char_error_rate
from voice.vosk_engine import VoskEngine



def test_chinese_words_are_joined_without_spaces():
    assert join_words(["广州", "市", "房地产"]) == "广州市房地产"
    assert join_words(["打", "VIP", "热线"]) == "打 VIP 热线"


def test_result_confidence_is_the_mean_word_confidence():
    result = Result.from_words([Word("你好", 0.1, 0.5, 0.9), Word("客服", 0.6, 1.0, 0.5)])
    assert result.text == "你好客服" and result.confidence == pytest.approx(0.7)
    assert Result.from_words([]).confidence == 0.0


@pytest.fixture(scope="module")
def engine(vosk_model_dir: Path) -> VoskEngine:
    engine = VoskEngine(vosk_model_dir)
    engine.load()
    return engine


async def test_transcribes_each_clip(engine: VoskEngine, clip: Path, transcripts: dict[str, str]):
    result = await engine.transcribe_file(clip)

    duration = decode_file(clip).duration
    assert char_error_rate(transcripts[clip.name], result.text) <= 0.5, result.text
    assert 0.0 < result.confidence <= 1.0
    assert all(0 <= w.start <= w.end <= duration + 0.1 for w in result.words)
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)


def test_streams_8khz_phone_audio(engine: VoskEngine, first_clip: Path, transcripts: dict[str, str]):
    pcm = decode_file(first_clip, target_rate=8000).samples
    stream = engine.new_stream(8000)
    partials = [stream.accept(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    result = stream.final()

    assert any(isinstance(p, Partial) and p.text for p in partials)
    assert char_error_rate(transcripts[first_clip.name], result.text) <= 0.6, result.text


def test_grammar_limits_output_to_the_phrases(engine: VoskEngine, first_clip: Path):
    phrases = ["是", "不是", "人工"]
    pcm = decode_file(first_clip, target_rate=16000)
    result = engine.transcribe_pcm(pcm.samples, 16000, phrases=phrases)
    assert all(w.word in {"是", "不", "不是", "人工"} for w in result.words), result.words


class ScriptedKaldi:
    """Stands in for vosk.KaldiRecognizer, replaying JSON in the shapes Vosk documents."""

    instances: list["ScriptedKaldi"] = []

    def __init__(self, *args) -> None:
        ScriptedKaldi.instances.append(self)
        self.args = args[1:]
        self.words_enabled = False
        self.fed = 0

    def SetWords(self, enabled: bool) -> None:  # noqa: N802 (Vosk's names)
        self.words_enabled = enabled

    def AcceptWaveform(self, data: bytes) -> bool:  # noqa: N802
        self.fed += 1
        return self.fed == 3  # the third chunk closes an utterance

    def PartialResult(self) -> str:  # noqa: N802
        return '{"partial" : "你好"}' if self.fed < 3 else '{"partial" : "人工"}'

    def Result(self) -> str:  # noqa: N802
        return ('{"result" : [{"conf" : 1.0, "end" : 0.6, "start" : 0.2, "word" : "你好"}],'
                ' "text" : "你好"}')

    def FinalResult(self) -> str:  # noqa: N802
        return ('{"result" : [{"conf" : 0.5, "end" : 1.4, "start" : 1.0, "word" : "人工"},'
                ' {"conf" : 0.9, "end" : 1.6, "start" : 1.4, "word" : "[unk]"}], "text" : "人工 [unk]"}')


def test_vosk_adapter_collects_utterances_partials_and_grammar(monkeypatch):
    import vosk

    from voice.vosk_engine import VoskRecognizer

    monkeypatch.setattr(vosk, "KaldiRecognizer", ScriptedKaldi)
    ScriptedKaldi.instances.clear()
    stream = VoskRecognizer(model=object(), sample_rate=8000, phrases=["人工", "你好"])

    events = [stream.accept(b"\0" * 320) for _ in range(5)]
    result = stream.final()

    assert [k.args for k in ScriptedKaldi.instances] == [(8000, '["人工", "你好", "[unk]"]')]
    assert ScriptedKaldi.instances[0].words_enabled
    assert events == [Partial("你好"), None, Partial("你好", endpoint=True), Partial("你好人工"), None]
    assert result.text == "你好人工"
    assert result.words == (Word("你好", 0.2, 0.6, 1.0), Word("人工", 1.0, 1.4, 0.5))
    assert result.confidence == pytest.approx(0.75)


def test_char_error_rate_counts_edits_over_chinese_characters():
    assert char_error_rate("广州市房地产", "广州市房地产") == 0
    assert char_error_rate("广州市房地产", "广州房地产产") == 2 / 6
    assert char_error_rate("广州 市,房地产", "广州市房地产") == 0
