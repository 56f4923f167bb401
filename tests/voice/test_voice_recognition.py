"""Recognition with the real Vosk test model: Kefu's own speech, phone audio, grammars, real voices."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.speech import spoken, spoken_on_the_phone
from voice.asr import Partial, Result, Word, join_words
from voice.audio import decode_file
from voice.grammar import Vocabulary
from voice.metrics import char_error_rate
from voice.pcm import pcm_to_wav_bytes
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


# Sentences from the hotline's domain in words the test model knows (its graph/words.txt);
# the test model never heard Kefu's TTS say these exact takes.
SENTENCES = ["宽带上不了网", "我想查话费", "电视没信号怎么办", "转人工", "帮我查一下账单"]


@pytest.mark.parametrize("sentence", SENTENCES)
async def test_recognises_kefus_own_speech(engine: VoskEngine, sentence: str, tmp_path: Path):
    path = tmp_path / "said.wav"
    path.write_bytes(pcm_to_wav_bytes(spoken(sentence, 16000), 16000))

    result = await engine.transcribe_file(path)

    assert result.text == sentence
    assert 0.5 < result.confidence <= 1.0
    duration = decode_file(path).duration
    assert all(0 <= w.start <= w.end <= duration + 0.1 for w in result.words)
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)


def test_streams_8khz_phone_audio_with_partials(engine: VoskEngine):
    pcm = spoken_on_the_phone("电视没信号怎么办")
    stream = engine.new_stream(8000)
    partials = [stream.accept(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    result = stream.final()

    heard = [p.text for p in partials if isinstance(p, Partial) and p.text]
    assert heard and heard[0] != result.text  # partials grow while the caller speaks
    assert result.text == "电视没信号怎么办"


def test_real_voices_are_beyond_the_test_model(engine: VoskEngine, clip: Path, transcripts: dict[str, str]):
    """The test model knows only synthetic speech (its README: CER ~99 % on these clips).

    What still must hold on real audio: the decoder runs, and word times and confidences are
    well-formed. Accuracy on real voices is a production-model figure (see bench/asr.py).
    """
    pcm = decode_file(clip, target_rate=16000)
    result = engine.transcribe_pcm(pcm.samples, 16000)
    assert all(0 <= w.start <= w.end <= pcm.duration + 0.1 and 0 <= w.conf <= 1 for w in result.words)
    assert char_error_rate(transcripts[clip.name], result.text) > 0.5  # if this fails, the model improved


def test_grammar_phrases_are_put_into_the_models_words(engine: VoskEngine):
    assert engine.grammar(["宽带上不了网", "报停", "语音留言", "转 人工"]) == ["宽带 上不了网", "报 停", "转 人工"]
    assert engine.grammar(["语音留言", "客服"]) is None  # nothing sayable: free speech, not silence


def test_grammar_limits_output_to_the_phrases(engine: VoskEngine):
    phrases = ["话费", "留言", "人工"]
    said = engine.transcribe_pcm(spoken_on_the_phone("我想查话费"), 8000, phrases=phrases)
    assert said.text == "话费"
    other = engine.transcribe_pcm(spoken_on_the_phone("电视没信号"), 8000, phrases=phrases)
    assert other.text in ("", *phrases)


def test_vocabulary_segments_by_fewest_words():
    vocabulary = Vocabulary.from_words(["<eps>", "[unk]", "上", "不", "了", "网", "上不了网", "宽", "宽带", "带"])
    assert vocabulary.segment("宽带上不了网") == "宽带 上不了网"
    assert vocabulary.segment("网上") == "网 上"
    assert vocabulary.segment("宽带故障") is None
    assert vocabulary.segment("宽 带") == "宽 带"  # an editor's own spaces are kept
    assert vocabulary.grammar(["宽带", "宽带", "故障"]) == (["宽带"], ["故障"])


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
