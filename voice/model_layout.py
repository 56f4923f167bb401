"""Which files make a usable Vosk model folder, by Vosk's own rules.

Mirrors ``Model::ConfigureV2``/``ReadDataFiles`` in vosk-api ``src/model.cc``: the acoustic
model and ``conf/model.conf``; a feature config (``mfcc.conf`` or ``fbank.conf``); a static
``graph/HCLG.fst`` or a lookahead ``graph/HCLr.fst`` + ``graph/Gr.fst`` + ``disambig_tid.int``.
Everything else is optional, but an optional part that is present must be whole: i-vectors
(``ivector/final.ie`` pulls in its five companions), const-ARPA rescoring (``rescore/G.carpa``
needs ``rescore/G.fst``) and RNNLM rescoring (``rnnlm/final.raw`` needs its three companions).
Checking the files first turns Vosk's bare "Failed to create a model" into a line naming the
missing one.
"""
from __future__ import annotations

from pathlib import Path

from voice.errors import ModelMissingError

_REQUIRED = ("am/final.mdl", "conf/model.conf")
_FEATURE_CONFIGS = ("conf/mfcc.conf", "conf/fbank.conf")
_STATIC_GRAPH = "graph/HCLG.fst"
_LOOKAHEAD_GRAPH = ("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int")
WORDS_FILE = "graph/words.txt"
# An optional part is switched on by its first file; the rest are then required.
_OPTIONAL_PARTS = (
    ("ivector/final.ie", ("ivector/final.dubm", "ivector/final.mat", "ivector/global_cmvn.stats",
                          "ivector/online_cmvn.conf", "ivector/splice.conf")),
    ("rescore/G.carpa", ("rescore/G.fst",)),
    ("rnnlm/final.raw", ("rnnlm/feat_embedding.final.mat", "rnnlm/word_feats.txt",
                         "rnnlm/special_symbol_opts.conf")),
)


def validate_model_dir(model_dir: Path | str | None) -> Path:
    """The resolved model folder; ModelMissingError (one line) names the first missing file."""
    if model_dir is None:
        raise ModelMissingError.not_configured()
    model_dir = Path(model_dir).expanduser().resolve()
    if not model_dir.is_dir():
        raise ModelMissingError.missing_file(model_dir)
    for relative in _REQUIRED:
        _require(model_dir, relative)
    if not any((model_dir / name).is_file() for name in _FEATURE_CONFIGS):
        _require(model_dir, _FEATURE_CONFIGS[0], alternative=_FEATURE_CONFIGS[1])
    if not (model_dir / _STATIC_GRAPH).is_file():
        for relative in _LOOKAHEAD_GRAPH:
            _require(model_dir, relative, alternative=_STATIC_GRAPH)
    for switch, companions in _OPTIONAL_PARTS:
        if (model_dir / switch).is_file():
            for relative in companions:
                _require(model_dir, relative)
    return model_dir


def words_path(model_dir: Path) -> Path | None:
    """The model's word list, when it ships one (Vosk can also read it from the graph)."""
    path = Path(model_dir) / WORDS_FILE
    return path if path.is_file() else None


def _require(model_dir: Path, relative: str, alternative: str | None = None) -> None:
    path = model_dir / relative
    if not path.is_file():
        name = f"{path} (or {model_dir / alternative})" if alternative else str(path)
        raise ModelMissingError.missing_file(Path(name))
